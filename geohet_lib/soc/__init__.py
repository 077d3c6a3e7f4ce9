"""The SOC study (SpTGNN paper): harmonised soil corpus, covariates, image patches, splits.

Stage 01 (:mod:`geohet_lib.soc.stage01`) builds the corpus of the paper's section 4 from a
synthetic generator with ground truth (:mod:`~geohet_lib.soc.synthetic`) or from the user's
soil samples (:mod:`~geohet_lib.soc.harmonise`); :mod:`~geohet_lib.soc.covariates` names the
63 tabular covariates of Table 2, :mod:`~geohet_lib.soc.patches` serves the Sentinel-2 /
Sentinel-1 / DEM patches and :mod:`~geohet_lib.soc.split` holds the 90/5/5 stratified split,
the covariate imputer/scaler and the log target scaler (sections 4.3, 4.5).
"""
