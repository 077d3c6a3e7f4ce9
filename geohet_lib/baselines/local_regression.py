"""Local weighted least squares with an adaptive bisquare kernel: the core GWR and GTWR share.

At every focal point i the local regression (Fotheringham, Brunsdon & Charlton 2002, eq. 2.6;
GPP paper section 4.3) is

    beta_i = (X' W_i X)^{-1} X' W_i y,   w_ij = (1 - (d_ij / h_i)^2)^2 for d_ij < h_i, else 0,
    h_i = eps x (distance from i to its q-th nearest point),  eps = 1.0000001

exactly as ``mgwr.kernels.Kernel`` (adaptive bisquare; the focal point is its own first
neighbour) and ``mgtwr`` define it. Because every weight beyond the q-th neighbour is exactly
zero, only the q nearest points enter a local fit: this core finds them with a k-d tree
(:class:`scipy.spatial.cKDTree`) and solves the local systems in batches, O(n q p^2) per pass
instead of mgwr's O(n^2 p^2) Python loop. Points at the q-th distance (ties, within the eps
window) get a weight in mgwr too, so a neighbour query is widened until every such point is in.

When q is a large share of n (mgwr's golden-section search starts near 0.38 n and 0.62 n), a
k-d tree query is slower than brute force: the *dense* path then computes the distances of a
block of focal points to all n points by one matrix product, the q-th distance per row by
introselect (``numpy.partition``; ``torch.topk`` on a GPU), and ``X' W X`` for the whole block by one more (W @ [x_a x_b, x_a y] over
the packed upper triangle). Both paths give the same sums to rounding.

Distances: points are given in any Euclidean embedding (planar coordinates; 3-D positions on a
sphere; space-time coordinates for GTWR). With ``great_circle_radius=R`` the Euclidean (chord)
distance c between points on the sphere of radius R is mapped to the great-circle distance
``2R asin(c / 2R)`` -- mgwr's haversine distance, to rounding -- before the kernel is applied.
The map is monotone, so the neighbour order is the chord order.

Arithmetic runs in float64 PyTorch on ``device`` (CPU here; CUDA on a GPU machine); the k-d
tree runs on the CPU.

Singular systems: a local normal matrix whose LU factorisation hits a zero pivot, or whose
1-norm condition number exceeds 1/eps (the threshold at which ``scipy.linalg.solve`` -- mgwr's
solver -- warns that its answer is meaningless), is *singular* here. ``on_singular="raise"``
raises :class:`SingularLocalFit` naming the focal points; ``"pinv"`` uses the Moore-Penrose
pseudo-inverse there (minimum-norm solution) and counts them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
from scipy.spatial import cKDTree

from ..geo import EARTH_RADIUS_KM, chord_to_great_circle, lonlat_to_unit_sphere

__all__ = ["EPS", "CRITERIA", "criterion", "lonlat_to_xyz", "SingularLocalFit", "LocalFits",
           "AdaptiveBisquare"]

EPS = 1.0000001  # mgwr / mgtwr: adaptive bandwidth distance = q-th distance * eps
CRITERIA = ("AICc", "AICc_mgtwr", "AIC", "BIC", "CV")
_DOUBLE_EPS = float(np.finfo(np.float64).eps)


def lonlat_to_xyz(lonlat: np.ndarray, radius: float = EARTH_RADIUS_KM) -> np.ndarray:
    """(lon, lat) in degrees -> 3-D Cartesian position (km) on a sphere of ``radius``."""
    return radius * lonlat_to_unit_sphere(lonlat[:, 0], lonlat[:, 1])


def criterion(name: str, n: float, rss: float, tr_s: float, cv_sum: float | None = None) -> float:
    """Bandwidth-selection criterion from RSS and tr(S) (``mgwr.diagnostics`` formulas).

    Gaussian log-likelihood ``llf = -n/2 (log(2 pi RSS / n) + 1)``; ``AICc = -2 llf + 2 n (tr S + 1)
    / (n - tr S - 2)`` (Fotheringham et al. 2002, eq. 2.33); ``AIC = -2 llf + 2 (tr S + 1)``;
    ``BIC = -2 llf + (tr S + 1) log n``; ``CV = sum (e_i / (1 - S_ii))^2 / n`` (``cv_sum`` is the
    sum); ``AICc_mgtwr = AIC + 2 tr S (tr S + 1) / (n - tr S - 1)`` (mgtwr's variant).
    """
    llf = -n / 2.0 * (math.log(2.0 * math.pi * rss / n) + 1.0) if rss > 0 else math.inf
    if name == "AICc":
        den = n - tr_s - 2.0
        return -2.0 * llf + 2.0 * n * (tr_s + 1.0) / den if den > 0 else math.inf
    if name == "AICc_mgtwr":
        den = n - tr_s - 1.0
        return -2.0 * llf + 2.0 * (tr_s + 1.0) + 2.0 * tr_s * (tr_s + 1.0) / den if den > 0 else math.inf
    if name == "AIC":
        return -2.0 * llf + 2.0 * (tr_s + 1.0)
    if name == "BIC":
        return -2.0 * llf + (tr_s + 1.0) * math.log(n)
    if name == "CV":
        if cv_sum is None:
            raise ValueError("criterion 'CV' needs cv_sum")
        return cv_sum / n
    raise ValueError(f"unknown criterion {name!r}; expected one of {CRITERIA}")


class SingularLocalFit(np.linalg.LinAlgError):
    """Local normal matrices X'W_iX that cannot be inverted (locally collinear covariates).

    ``focal`` holds the indices of the focal points concerned, ``q`` the neighbour count.
    A subclass of ``numpy.linalg.LinAlgError``, the error mgwr's solver raises.
    """

    def __init__(self, focal: np.ndarray, q: int):
        self.focal = np.asarray(focal, dtype=np.int64)
        self.q = int(q)
        head = ", ".join(str(int(i)) for i in self.focal[:10])
        more = f" and {len(self.focal) - 10} more" if len(self.focal) > 10 else ""
        super().__init__(
            f"{len(self.focal)} local regression(s) with {self.q} neighbours are singular or "
            f"ill-conditioned (a covariate constant or collinear over the neighbourhood); focal "
            f"points (row indices) {head}{more}")


@dataclass
class LocalFits:
    """Results of one pass of local fits at m focal points (p parameters).

    ``beta`` (m, p); ``influence`` (m,) ``x_i' (X'W_iX)^{-1} x_i`` (= S_ii, the focal point's
    own weight being 1) when focal covariates were given; ``cct`` (m, p) the diagonal of
    ``C_i C_i'`` with ``C_i = (X'W_iX)^{-1} X'W_i`` and ``sts`` (m,) ``sum_j S_ij^2`` when
    ``cov=True``; ``singular`` (m,) flags of systems solved by pseudo-inverse.
    """

    beta: np.ndarray
    influence: np.ndarray | None
    cct: np.ndarray | None
    sts: np.ndarray | None
    singular: np.ndarray


class AdaptiveBisquare:
    """Adaptive bisquare local regressions of ``y`` on ``X`` over points ``points``.

    Parameters
    ----------
    points : (n, d) Euclidean embedding of the observations (see the module docstring).
    X : (n, p) design matrix (with the intercept column when there is one).
    y : (n,) response.
    great_circle_radius : map chord distances to great-circle distances on this sphere.
    device : torch device of the arithmetic ("cpu", "cuda").
    dense_share : use the dense path when q > dense_share x n (the crossover measured on a
        2-core CPU: a tree-path neighbour costs ~9x a dense-path point).
    block_elements : elements of one block's largest array (memory bound per block).
    cache_entries : largest neighbour-list cache (n x K entries of 16 bytes; 2^25 = 512 MiB).
    progress : a progress bar over blocks.
    """

    def __init__(self, points: np.ndarray, X: np.ndarray, y: np.ndarray, *,
                 great_circle_radius: float | None = None, device: str = "cpu",
                 dense_share: float = 0.07, block_elements: int = 1 << 22,
                 cache_entries: int = 1 << 25, progress: bool = False):
        import torch

        self.points = np.ascontiguousarray(points, dtype=np.float64)
        self.n, self.p = X.shape
        if self.points.shape[0] != self.n or len(y) != self.n:
            raise ValueError(f"points, X and y differ in length ({len(self.points)}, {self.n}, {len(y)})")
        self.radius = great_circle_radius
        self.device = torch.device(device)
        self.dense_share = float(dense_share)
        self.block_elements = int(block_elements)
        self.progress = progress
        self._torch = torch
        self.X = torch.as_tensor(np.array(X, dtype=np.float64), device=self.device)
        self.y = torch.as_tensor(np.array(y, dtype=np.float64).reshape(-1), device=self.device)
        self.cache_entries = int(cache_entries)
        self._tree: cKDTree | None = None
        self._nbr_cache: tuple[np.ndarray, np.ndarray] | None = None
        self._dense_cache: dict[str, object] = {}

    # ------------------------------------------------------------------ geometry
    @property
    def tree(self) -> cKDTree:
        if self._tree is None:
            self._tree = cKDTree(self.points)
        return self._tree

    def _kernel_distance(self, d):
        """Embedded (chord) distance -> kernel distance (numpy or torch)."""
        if self.radius is None:
            return d
        R = self.radius
        if isinstance(d, np.ndarray):
            return chord_to_great_circle(d, R)
        return 2.0 * R * self._torch.asin(self._torch.clamp(d / (2.0 * R), 0.0, 1.0))

    def neighbours(self, focal_points: np.ndarray, q: int, train_rows: np.ndarray | None = None
                   ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """Yield ``(rows, dist, idx, h)``: every point with kernel distance < h = d_q x eps.

        Starts with q + 1 neighbours and widens the query for rows whose last neighbour is
        still inside h (ties at the q-th distance), so the support equals mgwr's exactly.
        ``train_rows``: the focal points are these training points -- their neighbours then
        come from a cache of sorted neighbour lists kept across calls (a bandwidth search asks
        for the same points with ever smaller q) while it fits in ``cache_entries``.
        """
        pending = np.arange(len(focal_points))
        if train_rows is not None:
            cached = self._cached_neighbours(q)
            if cached is not None:
                d_all, i_all = cached
                K = min(d_all.shape[1], q + 1)
                d, i = d_all[train_rows, :K], i_all[train_rows, :K]
                done, h = self._complete(d, q)
                if done.any():
                    yield pending[done], d[done], i[done], h[done]
                pending = pending[~done]
        K = min(q + 1, self.n)
        while pending.size:
            d, i = self.tree.query(focal_points[pending], k=K, workers=-1)
            d = self._kernel_distance(np.asarray(d, dtype=np.float64).reshape(len(pending), K))
            i = np.asarray(i).reshape(len(pending), K)
            done, h = self._complete(d, q)
            if done.any():
                yield pending[done], d[done], i[done], h[done]
            pending = pending[~done]
            K = min(self.n, q + max(16, 4 * (K - q)))

    def _complete(self, d: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
        """For sorted neighbour distances d (m, K): rows whose list holds every point inside
        h = d_q x eps (the last one is outside it, or all n points are in), and h."""
        h = d[:, q - 1] * EPS
        done = np.ones(len(d), bool) if d.shape[1] >= self.n else d[:, -1] >= h
        _check_bandwidth(h[done], q)
        return done, h

    def _cached_neighbours(self, q: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Sorted kernel distances and indices (n, K >= q + 1) of every training point's
        nearest neighbours, queried once and reused for smaller q; None when too large."""
        K = min(self.n, q + 17)
        c = self._nbr_cache
        if c is not None and c[0].shape[1] >= min(K, self.n):
            return c
        if self.n * K > self.cache_entries:
            return None
        self._nbr_cache = None  # release the smaller cache first
        d, i = self.tree.query(self.points, k=K, workers=-1)
        d = self._kernel_distance(np.asarray(d, dtype=np.float64).reshape(self.n, K))
        self._nbr_cache = (d, np.asarray(i, dtype=np.int64).reshape(self.n, K))
        return self._nbr_cache

    # ------------------------------------------------------------------ weights
    def _use_dense(self, q: int) -> bool:
        return q > self.dense_share * self.n

    def _blocks(self, focal_points: np.ndarray, q: int, desc: str, train: bool = False):
        """Yield ``(rows, w, idx)``: kernel weights of a block of focal rows, either
        sparse (w (c, K) over neighbour indices idx (c, K)) or dense (w (c, n), idx None)."""
        torch = self._torch
        m = len(focal_points)
        if self._use_dense(q):
            step = max(1, (self.block_elements // 4) // self.n)  # cache-sized blocks
        else:
            step = max(1, self.block_elements // ((q + 1) * self.p))
        starts = range(0, m, step)
        if self.progress:
            from ..progress import progress_bar

            starts = progress_bar(starts, desc=desc, unit="block", leave=False)
        for s in starts:
            sl = np.arange(s, min(m, s + step))
            if self._use_dense(q):
                yield sl, self._dense_weights(focal_points[sl], q), None
                continue
            for rows, d, idx, h in self.neighbours(focal_points[sl], q, sl if train else None):
                dt = torch.as_tensor(d, device=self.device)
                ht = torch.as_tensor(h, device=self.device)[:, None]
                z = dt / ht
                w = (1.0 - z * z) ** 2
                w = torch.where(dt < ht, w, torch.zeros((), dtype=w.dtype, device=w.device))
                yield sl[rows], w, torch.as_tensor(idx, device=self.device)

    def _dense_weights(self, focal_points: np.ndarray, q: int):
        """Weights (c, n) of all n points for a block of focal points.

        Squared distances by one GEMM (coordinates centred first), the q-th smallest per row by
        a selection on them (the distance map is monotone), then the kernel in place.
        """
        torch = self._torch
        if "pts" not in self._dense_cache:
            centre = self.points.mean(axis=0)
            pts = torch.as_tensor(self.points - centre, device=self.device)
            self._dense_cache.update(pts=pts, sq=(pts * pts).sum(1), centre=centre)
        pts, sq = self._dense_cache["pts"], self._dense_cache["sq"]
        f = torch.as_tensor(focal_points - self._dense_cache["centre"], device=self.device)
        d2 = torch.addmm(sq[None, :] + (f * f).sum(1)[:, None], f, pts.T, alpha=-2.0).clamp_(min=0.0)
        h = self._kernel_distance(torch.sqrt(_kth_smallest(d2, q))) * EPS
        _check_bandwidth(h.cpu().numpy(), q)
        if self.radius is None:
            z2 = d2
        else:  # chord -> great-circle distance, in place: 2R asin(c / 2R), squared
            R = self.radius
            z2 = d2.sqrt_().mul_(0.5 / R).clamp_(max=1.0).asin_().mul_(2.0 * R).square_()
        # (1 - (d/h)^2)^2 where d < h, else 0 (1 - (d/h)^2 <= 0 there, so the clamp gives 0)
        return z2.mul_((-1.0 / (h * h))[:, None]).add_(1.0).clamp_(min=0.0).square_()

    def weighted_sums(self, focal_points: np.ndarray | None, q: int, V: np.ndarray,
                      power: int = 1) -> np.ndarray:
        """``sum_j w_ij^power V_j`` (m, c) for columns ``V`` (n, c) -- e.g. local means
        (``focal_points`` None: every training point)."""
        torch = self._torch
        train = focal_points is None
        if train:
            focal_points = self.points
        Vt = torch.as_tensor(np.asarray(V, dtype=np.float64).reshape(self.n, -1), device=self.device)
        out = np.empty((len(focal_points), Vt.shape[1]))
        for rows, w, idx in self._blocks(focal_points, q, "weighted sums", train):
            w = w ** power
            s = (w if idx is None else self._csr(w, idx)) @ Vt
            out[rows] = s.cpu().numpy()
        return out

    def weights_matrix(self, focal_points: np.ndarray, q: int):
        """Kernel weights as a ``scipy.sparse.csr_matrix`` (m, n)."""
        from scipy import sparse

        r, c, v = [], [], []
        for rows, d, idx, h in self.neighbours(focal_points, q):
            w = (1.0 - (d / h[:, None]) ** 2) ** 2
            w[d >= h[:, None]] = 0.0
            r.append(np.repeat(rows, d.shape[1]))
            c.append(idx.ravel())
            v.append(w.ravel())
        W = sparse.csr_matrix((np.concatenate(v), (np.concatenate(r), np.concatenate(c))),
                              shape=(len(focal_points), self.n))
        W.eliminate_zeros()
        return W

    # ------------------------------------------------------------------ local fits
    def _moments(self, w, idx, cov: bool):
        """X'WX (c, p, p), X'Wy (c, p) and, with ``cov``, X'W^2X for one block: one product
        of the block's weights -- dense (c, n), or sparse CSR over the neighbour lists -- with
        the packed columns [x_a x_b (a <= b), x_a y]."""
        Z, iu = self._packed()
        W = w if idx is None else self._csr(w, idx)
        flat = W @ Z
        A = _unpack(flat[:, :-self.p], iu, self.p)
        b = flat[:, -self.p:]
        B = None
        if cov:
            W2 = w * w if idx is None else self._csr(w * w, idx)
            B = _unpack(W2 @ Z[:, :-self.p], iu, self.p)
        return A, b, B

    def _csr(self, w, idx):
        """Weights (c, K) on neighbour indices (c, K) as a (c, n) sparse CSR matrix."""
        import warnings

        torch = self._torch
        c, K = w.shape
        crow = torch.arange(0, c * K + 1, K, device=self.device)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
            return torch.sparse_csr_tensor(crow, idx.reshape(-1), w.reshape(-1), size=(c, self.n))

    def _packed(self):
        """[x_a x_b for a <= b, x_a y] (n, p(p+1)/2 + p), for the dense path's one GEMM."""
        if "Z" not in self._dense_cache:
            torch = self._torch
            iu = torch.triu_indices(self.p, self.p, device=self.device)
            Z = torch.cat([self.X[:, iu[0]] * self.X[:, iu[1]], self.X * self.y[:, None]], dim=1)
            self._dense_cache.update(Z=Z, iu=iu)
        return self._dense_cache["Z"], self._dense_cache["iu"]

    def fit(self, focal_points: np.ndarray | None, q: int, focal_X: np.ndarray | None = None, *,
            cov: bool = False, on_singular: str = "raise", desc: str = "local fits") -> LocalFits:
        """Local regressions at ``focal_points`` with q neighbours (see :class:`LocalFits`).

        ``focal_points`` None: every training point (neighbour lists then cached across
        calls). ``focal_X`` (m, p): the focal points' own covariate rows, for the hat diagonal
        (and ``cct`` / ``sts`` with ``cov``). ``on_singular``: "raise" or "pinv".
        """
        train = focal_points is None
        if train:
            focal_points = self.points
        if on_singular not in ("raise", "pinv"):
            raise ValueError(f"on_singular must be 'raise' or 'pinv', got {on_singular!r}")
        if not 1 <= q <= self.n:
            raise ValueError(f"the neighbour count q must lie in [1, {self.n}], got {q}")
        torch = self._torch
        m, p = len(focal_points), self.p
        beta = np.empty((m, p))
        influ = np.empty(m) if focal_X is not None else None
        cct = np.empty((m, p)) if cov else None
        sts = np.empty(m) if cov else None
        singular = np.zeros(m, bool)
        fX = None if focal_X is None else torch.as_tensor(np.asarray(focal_X, dtype=np.float64),
                                                          device=self.device)
        for rows, w, idx in self._blocks(focal_points, q, desc, train):
            A, b, B = self._moments(w, idx, cov and fX is not None)
            Ainv, bad = _inverse(A)
            if bool(bad.any()):  # solved by pseudo-inverse; with "raise", reported at the end
                Ainv[bad] = torch.linalg.pinv(A[bad])
                singular[rows[bad.cpu().numpy()]] = True
            beta[rows] = (Ainv @ b[:, :, None])[:, :, 0].cpu().numpy()
            if fX is not None:
                xi = fX[torch.as_tensor(rows, device=self.device)]
                zi = (Ainv @ xi[:, :, None])[:, :, 0]  # (X'WX)^{-1} x_i
                influ[rows] = (xi * zi).sum(1).cpu().numpy()
                if B is not None:
                    C = Ainv @ B @ Ainv
                    cct[rows] = torch.diagonal(C, dim1=1, dim2=2).cpu().numpy()
                    sts[rows] = (zi[:, None, :] @ B @ zi[:, :, None])[:, 0, 0].cpu().numpy()
        if on_singular == "raise" and singular.any():
            raise SingularLocalFit(np.flatnonzero(singular), q)
        return LocalFits(beta, influ, cct, sts, singular)


def _check_bandwidth(h: np.ndarray, q: int) -> None:
    if np.any(h <= 0):
        raise ValueError(f"the bandwidth distance is zero: a focal point has at least q={q} "
                         "observations at its own position (duplicates); increase the "
                         "bandwidth or aggregate repeated locations")


_POOL = None


def _kth_smallest(d, q: int):
    """The q-th smallest value of each row of ``d`` (c, n): ``torch.topk`` on a GPU; on the CPU
    ``numpy.partition`` (introselect, O(n)) over row chunks in one thread per torch thread --
    2-4x faster than ``topk``/``kthvalue`` on 2 cores."""
    import torch

    if d.device.type != "cpu":
        return torch.topk(d, q, dim=1, largest=False, sorted=False).values.amax(dim=1)
    global _POOL
    a = d.numpy()
    parts = np.array_split(np.arange(len(a)), max(1, min(torch.get_num_threads(), len(a))))

    def select(rows: np.ndarray) -> np.ndarray:
        return np.partition(a[rows], q - 1, axis=1)[:, q - 1]

    if len(parts) == 1:
        return torch.from_numpy(select(parts[0]))
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=torch.get_num_threads(), thread_name_prefix="geohet-kth")
    return torch.from_numpy(np.concatenate(list(_POOL.map(select, parts))))


def _unpack(flat, iu, p: int):
    """Packed upper triangles (c, p(p+1)/2) -> symmetric matrices (c, p, p)."""
    import torch

    A = torch.zeros((flat.shape[0], p, p), dtype=flat.dtype, device=flat.device)
    A[:, iu[0], iu[1]] = flat
    A[:, iu[1], iu[0]] = flat
    return A


def _inverse(A):
    """Batched inverse and a flag per system: zero pivot, non-finite, or 1-norm condition
    number above 1/eps (``scipy.linalg.solve``'s ill-conditioning threshold)."""
    import torch

    Ainv, info = torch.linalg.inv_ex(A)
    norm_a = A.abs().sum(dim=-2).amax(dim=-1)  # 1-norm: largest absolute column sum
    norm_inv = Ainv.abs().sum(dim=-2).amax(dim=-1)
    bad = (info != 0) | ~torch.isfinite(norm_inv) | (norm_a * norm_inv > 1.0 / _DOUBLE_EPS)
    return Ainv, bad
