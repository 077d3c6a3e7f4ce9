"""The SOC study (SpTGNN paper): harmonised soil corpus, covariates, image patches, splits.

Stage 01 (:mod:`geohet_lib.soc.stage01`) builds the corpus of the paper's section 4 from a
synthetic generator with ground truth (:mod:`~geohet_lib.soc.synthetic`) or from the user's
soil samples (:mod:`~geohet_lib.soc.harmonise`); :mod:`~geohet_lib.soc.covariates` names the
63 tabular covariates of Table 2, :mod:`~geohet_lib.soc.patches` serves the Sentinel-2 /
Sentinel-1 / DEM patches and :mod:`~geohet_lib.soc.split` holds the 90/5/5 stratified split,
the covariate imputer/scaler and the log target scaler (sections 4.3, 4.5).

Stage 02 (:mod:`~geohet_lib.soc.stage02`, :mod:`~geohet_lib.soc.graph`) builds the
heterogeneous graph of 3.5; stage 03 (:mod:`~geohet_lib.soc.stage03`) fine-tunes the image
encoder (:mod:`~geohet_lib.soc.image_encoder`) and trains SpTGNN
(:mod:`~geohet_lib.soc.sptgnn`: :mod:`~geohet_lib.soc.encoders`, :mod:`~geohet_lib.soc.moe`,
:mod:`~geohet_lib.soc.rgat`; :mod:`~geohet_lib.soc.losses`, :mod:`~geohet_lib.soc.train` with
:mod:`~geohet_lib.soc.sampling` for mini-batches) against XGBoost
(:mod:`~geohet_lib.soc.xgb_baseline`), with the Table 6 settings in
:mod:`~geohet_lib.soc.configs`.
"""
