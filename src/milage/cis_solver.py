"""Compiled kernels of the masked multi-tissue group elastic net (the cis model).

For one gene with cis window X (individuals x SNPs), expression Y (individuals x tissues)
and observation mask M, the kernel minimises

    (1 / 2n) sum_k sum_i M[i, k] (Y[i, k] - c_k - X[i] @ W[:, k])^2
        + lam * (l1_ratio * sum_s ||W[s, :]||_2 + (1 - l1_ratio) / 2 * ||W||_F^2)

over W (SNPs x tissues) and unpenalised per-tissue intercepts c, with n the number of
individuals. With a complete mask and l1_ratio = 1 this is scikit-learn's MultiTaskLasso.

Why hand-written (numba) rather than a library: no maintained solver handles a per-tissue
observation mask with a shared design. The algorithm is the one of celer / skglm: working
sets grown from the dual (KKT) violations, exact block coordinate descent on the working
set (in Gram form when it is small; with residual updates and Anderson acceleration when
it is large), gap-safe screening, warm starts along the penalty path, and the duality gap
of the full problem as the stopping rule. The kernels release the GIL, so genes are solved
on parallel threads.

Residuals are held tissue-major (tissues x individuals) in the dosages' precision: each
block update then runs over contiguous individuals, and with float32 dosages in float32 SIMD
lanes, about twice as fast as individual-major float64. Sums that decide convergence
(||R||^2, R.Y) are accumulated in float64.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_NEWTON_STEPS = 60
# Working sets up to this size are solved in Gram form (cheap epochs, one Gram build per
# tissue); larger ones update residuals directly (no P^2 Gram per tissue).
GRAM_MAX_SNPS = 64
# Dosage variance (per sample) below which a SNP, or a combination of SNPs, counts as
# constant over a tissue's samples in the relaxed refit: an SD of 0.03 dosage. A hard-called
# SNP with one heterozygote among 1,000 samples (more than any GTEx tissue has) has 1e-3.
MIN_SNP_VARIANCE = 1e-3


@njit(nogil=True, cache=True)
def _block_solve(rho, h, l1, l2, out):
    """argmin_v sum_k (h_k + l2) v_k^2 / 2 - rho_k v_k + l1 ||v||_2, written into ``out``.

    v_k = rho_k t / ((h_k + l2) t + l1) with t = ||v|| the root of
    phi(t) = sum_k rho_k^2 / ((h_k + l2) t + l1)^2 - 1, found by Newton's method. phi is
    convex and decreasing, so from a point left of the root the iterates increase
    monotonically to it. The start (||rho|| - l1) / max_k(h_k + l2) is such a point (there
    phi >= 0) and the exact root when the curvatures are equal, so few steps are needed.
    """
    norm2 = 0.0
    for k in range(rho.shape[0]):
        norm2 += rho[k] * rho[k]
    if norm2 <= l1 * l1:
        out[:] = 0.0
        return
    if rho.shape[0] == 1:  # one tissue: the elastic-net soft-threshold in closed form
        out[0] = (rho[0] - np.sign(rho[0]) * l1) / (h[0] + l2)
        return
    h_max = 0.0
    for k in range(rho.shape[0]):
        h_max = max(h_max, h[k] + l2)
    t = (np.sqrt(norm2) - l1) / h_max if h_max > 0.0 else 0.0
    for _ in range(_NEWTON_STEPS):
        phi, dphi = -1.0, 0.0
        for k in range(rho.shape[0]):
            d = (h[k] + l2) * t + l1
            phi += rho[k] * rho[k] / (d * d)
            dphi -= 2.0 * rho[k] * rho[k] * (h[k] + l2) / (d * d * d)
        if dphi == 0.0:
            break
        step = phi / dphi
        t -= step
        if abs(step) <= 1e-13 * t:
            break
    for k in range(rho.shape[0]):
        out[k] = rho[k] * t / ((h[k] + l2) * t + l1)


@njit(nogil=True, cache=True)
def _row_norms(W, XtR, l2):
    """Per SNP: ||X_s^T R - l2 W_s||_2 (what the dual constraint bounds) and ||W_s||^2."""
    p, n_tis = W.shape
    dual, w2 = np.zeros(p), np.zeros(p)
    for s in range(p):
        for k in range(n_tis):
            a = XtR[s, k] - l2 * W[s, k]
            dual[s] += a * a
            w2[s] += W[s, k] * W[s, k]
    return np.sqrt(dual), w2


@njit(nogil=True, cache=True)
def _gap(dual, w2, rr, ry, l1, l2):
    """Duality gap (of the objective times n) from the per-SNP norms of :func:`_row_norms`,
    ||R||^2 and R.Y; the dual point is R rescaled to be feasible."""
    dual_norm = dual.max() if dual.shape[0] else 0.0
    const = l1 / dual_norm if dual_norm > l1 else 1.0
    return (0.5 * (1.0 + const * const) * (rr + l2 * w2.sum()) + l1 * np.sqrt(w2).sum()
            - const * ry)


@njit(nogil=True, cache=True)
def _dot(a, b):
    """sum(a * b) of two C-contiguous arrays of one shape, accumulated in float64."""
    fa, fb = a.ravel(), b.ravel()
    total = 0.0
    for i in range(fa.shape[0]):
        total += np.float64(fa[i]) * np.float64(fb[i])
    return total


@njit(nogil=True, cache=True, fastmath=True)
def _bcd_epoch(Xt, Mt, xbar, h, Rt, W, ws, l1, l2, rho, hs, new):
    """One pass of exact block updates over the working set, residuals Rt (tissues x
    individuals) kept current.

    For SNP s the block gradient is X_s^T R (R sums to zero within each tissue, so the
    centring of X cancels) and the block's curvature in tissue k is h[s, k].
    """
    n_tis, n = Rt.shape
    scalar = np.empty(2, Rt.dtype)    # scalars in the residuals' precision
    for a in range(ws.shape[0]):
        s = ws[a]
        x = Xt[s]
        for k in range(n_tis):
            scalar[0] = 0.0
            g = scalar[0]
            for i in range(n):
                g += x[i] * Rt[k, i]
            hs[k] = h[s, k]
            rho[k] = h[s, k] * W[s, k] + g
        _block_solve(rho, hs, l1, l2, new)
        for k in range(n_tis):
            delta = new[k] - W[s, k]
            if delta != 0.0:
                W[s, k] = new[k]
                scalar[0], scalar[1] = xbar[s, k], delta
                xb, d = scalar[0], scalar[1]
                for i in range(n):
                    Rt[k, i] -= Mt[k, i] * (x[i] - xb) * d


@njit(nogil=True, cache=True)
def _residuals(Yct, Mt, Xw, xw, Ww):
    """Tissue-major residuals (float64) of the weights Ww (P x tissues) of the SNPs with
    dosages Xw (P x individuals, float64) and per-tissue means xw (P x tissues)."""
    fitted = np.ascontiguousarray(Ww.T) @ Xw                           # tissues x individuals
    return Yct - Mt * (fitted - (xw * Ww).sum(axis=0).reshape(-1, 1))


@njit(nogil=True, cache=True)
def _primal(R, Ww, l1, l2):
    """The objective (times n) from the residuals and the working-set weights."""
    pen = 0.0
    for a in range(Ww.shape[0]):
        pen += np.sqrt((Ww[a] * Ww[a]).sum())
    return 0.5 * _dot(R, R) + l1 * pen + 0.5 * l2 * (Ww * Ww).sum()


@njit(nogil=True, cache=True)
def _inner_bcd(Xt, Mt, xbar, h, Rt, W, ws, Yct, yy, l1, l2, tol, max_epochs):
    """Block coordinate descent over the working set ``ws``, updating W and the masked,
    per-tissue centred residuals Rt in place; stops on the working set's duality gap.

    Every 6 epochs the last iterates are extrapolated (Anderson acceleration, as in skglm)
    and the extrapolation is kept when it lowers the objective: SNPs in LD make plain
    coordinate descent slow. Returns the number of epochs.
    """
    n_tis, n = Rt.shape
    P = ws.shape[0]
    rho, hs, new = np.empty(n_tis), np.empty(n_tis), np.empty(n_tis)
    Xw = np.empty((P, n))
    for a in range(P):
        Xw[a] = Xt[ws[a]]
    xw = np.empty((P, n_tis))
    for a in range(P):
        xw[a] = xbar[ws[a]]
    n_hist = 6
    hist = np.zeros((n_hist, P, n_tis))
    epoch = 0
    for epoch in range(1, max_epochs + 1):
        _bcd_epoch(Xt, Mt, xbar, h, Rt, W, ws, l1, l2, rho, hs, new)
        slot = (epoch - 1) % n_hist
        for a in range(P):
            hist[slot, a] = W[ws[a]]
        if slot == n_hist - 1:
            U = (hist[1:] - hist[:-1]).reshape(n_hist - 1, P * n_tis)
            C = U @ U.T
            C += 1e-12 * max(np.trace(C), 1e-300) * np.eye(n_hist - 1)
            z = np.linalg.solve(C, np.ones(n_hist - 1))
            if np.isfinite(z).all() and z.sum() != 0.0:
                z /= z.sum()
                Wacc = np.zeros((P, n_tis))
                for m in range(n_hist - 1):
                    Wacc += z[m] * hist[m + 1]
                Racc = _residuals(Yct, Mt, Xw, xw, Wacc)
                if _primal(Racc, Wacc, l1, l2) < _primal(Rt, hist[n_hist - 1], l1, l2):
                    Rt[:] = Racc
                    for a in range(P):
                        W[ws[a]] = Wacc[a]
        Ww = np.empty((P, n_tis))
        for a in range(P):
            Ww[a] = W[ws[a]]
        dual, w2 = _row_norms(Ww, Xw @ np.ascontiguousarray(Rt.T).astype(np.float64), l2)
        if _gap(dual, w2, _dot(Rt, Rt), _dot(Rt, Yct), l1, l2) <= tol * yy:
            break
    return epoch


@njit(nogil=True, cache=True)
def _gram(Xw, Mt, xw):
    """Per-tissue centred Gram matrices (tissues, P, P) of the working-set SNPs, from their
    dosages Xw (P, individuals) and per-tissue means xw (P, tissues)."""
    P, n_tis = Xw.shape[0], Mt.shape[0]
    nk = Mt.sum(axis=1)
    Q = np.empty((n_tis, P, P))
    for k in range(n_tis):
        Q[k] = Xw @ np.ascontiguousarray((Xw * Mt[k].astype(np.float64)).T)
        for a in range(P):
            for b in range(P):
                Q[k, a, b] -= nk[k] * xw[a, k] * xw[b, k]
    return Q


@njit(nogil=True, cache=True)
def _inner_gram(Q, B, W, l1, l2, yy, tol, max_epochs):
    """Block coordinate descent in Gram form (small working sets): Q (tissues, P, P),
    B (P, tissues) = X_ws^T Yc, W (P, tissues) updated in place; stops on the working set's
    duality gap. Returns the number of epochs."""
    n_tis, P = Q.shape[0], Q.shape[1]
    QW = np.zeros((n_tis, P))
    for k in range(n_tis):
        QW[k] = Q[k] @ np.ascontiguousarray(W[:, k])
    rho, h, new = np.empty(n_tis), np.empty(n_tis), np.empty(n_tis)
    epochs = 0
    while epochs < max_epochs:
        epochs += 1
        for s in range(P):
            for k in range(n_tis):
                h[k] = Q[k, s, s]
                rho[k] = B[s, k] - QW[k, s] + h[k] * W[s, k]
            _block_solve(rho, h, l1, l2, new)
            for k in range(n_tis):
                delta = new[k] - W[s, k]
                if delta != 0.0:
                    W[s, k] = new[k]
                    for a in range(P):
                        QW[k, a] += Q[k, a, s] * delta
        # ||R||^2 = yy - 2 B.W + W.QW ; R.Y = yy - B.W ; X^T R = B - QW^T
        bw, wqw = 0.0, 0.0
        XtR = np.empty((P, n_tis))
        for s in range(P):
            for k in range(n_tis):
                bw += B[s, k] * W[s, k]
                wqw += W[s, k] * QW[k, s]
                XtR[s, k] = B[s, k] - QW[k, s]
        dual, w2 = _row_norms(W, XtR, l2)
        if _gap(dual, w2, yy - 2.0 * bw + wqw, yy - bw, l1, l2) <= tol * yy:
            break
    return epochs


@njit(nogil=True, cache=True)
def snp_stats(Xt, M):
    """Per-tissue SNP means over the observed individuals and the centred sums of squares
    (the block curvatures): two (SNPs, tissues) arrays. They depend only on the genotypes
    and the mask, so one call serves every gene whose window lies in ``Xt``.

    A loop rather than a matrix product: each SNP's numbers then do not depend on where
    the SNP sits in ``Xt`` (so not on the gene chunking), and float32 dosages need no
    float64 copy of the whole chunk.
    """
    p, n = Xt.shape
    n_tis = M.shape[1]
    nk = np.maximum(M.sum(axis=0), 1.0)
    xbar, h = np.zeros((p, n_tis)), np.zeros((p, n_tis))
    for s in range(p):
        for i in range(n):
            x = np.float64(Xt[s, i])
            for k in range(n_tis):
                xbar[s, k] += x * M[i, k]
                h[s, k] += x * x * M[i, k]
        for k in range(n_tis):
            xbar[s, k] /= nk[k]
            h[s, k] = max(h[s, k] - nk[k] * xbar[s, k] * xbar[s, k], 0.0)
    return xbar, h


@njit(nogil=True, cache=True)
def _centre(Y, M):
    """Per-tissue means of the observed Y, the masked centred Y (tissue-major) and its
    squared norm."""
    ybar = (M * Y).sum(axis=0) / np.maximum(M.sum(axis=0), 1.0)
    Yct = np.ascontiguousarray((M * (Y - ybar)).T)
    return ybar, Yct, _dot(Yct, Yct)


@njit(nogil=True, cache=True)
def _start(Xt, Y, M):
    """The solver's state at W = 0: intercepts ybar, centred Yct, yy = ||Yct||^2, the mask
    Mt and residuals Rt (tissue-major, in the dosages' precision) and G = X^T R."""
    ybar, Yct, yy = _centre(Y, M)
    Mt = np.ascontiguousarray(M.T).astype(Xt.dtype)
    Rt = Yct.astype(Xt.dtype)
    return ybar, Yct, yy, Mt, Rt, _grad(Xt, Rt)


@njit(nogil=True, cache=True)
def _grad(Xt, Rt):
    """X^T R, (SNPs, tissues) float64, in the dosages' precision: with float32 dosages a
    single-precision product, twice as fast, its rounding far below the tolerances."""
    return (Xt @ np.ascontiguousarray(Rt.T).astype(Xt.dtype)).astype(np.float64)


@njit(nogil=True, cache=True)
def _solve(Xt, Mt, xbar, h, Yct, yy, W, Rt, G, lam, l1_ratio, tol, max_epochs, refresh):
    """Solve at one penalty from the warm start W, residuals Rt and G = X^T R, all updated
    in place. Returns (relative gap, epochs).

    Each round: the duality gap of the full problem (stop below tol * yy); the gap-safe
    sphere test (Ndiaye et al. 2017) discards SNPs proven inactive at this penalty, so
    later rounds' gradient passes skip them; one sweep over the active SNPs and then the
    violators, strongest first (in LD the first SNP of a block takes the signal and its
    neighbours stay at zero); the SNPs left non-zero are solved to 0.3 times the current
    gap (as celer); G of the kept SNPs is recomputed. With ``refresh`` G ends current for
    every SNP, as the next penalty of a path needs it.
    """
    p, n = Xt.shape
    n_tis = Mt.shape[0]
    l1 = n * lam * l1_ratio
    l2 = n * lam * (1.0 - l1_ratio)
    xnorm = np.empty(p)  # operator norm of each SNP's block (masked, centred, with ridge)
    for s in range(p):
        xnorm[s] = np.sqrt(h[s].max() + l2)
    keep, Xk = np.arange(p), Xt
    rho, hs, new = np.empty(n_tis), np.empty(n_tis), np.empty(n_tis)
    gap_rel, epochs = 0.0, 0
    for _ in range(100):
        dual, w2 = _row_norms(W[keep], G[keep], l2)
        gap = _gap(dual, w2, _dot(Rt, Rt), _dot(Rt, Yct), l1, l2)
        gap_rel = gap / yy
        if gap <= tol * yy:
            break
        scale = l1 / dual.max() if dual.max() > l1 else 1.0
        survive = (w2 > 0.0) | (scale * dual + np.sqrt(2.0 * gap) * xnorm[keep] >= l1)
        if survive.sum() < 0.8 * keep.shape[0]:  # gathering the rows pays off
            keep, dual, w2 = keep[survive], dual[survive], w2[survive]
            Xk = Xt[keep]
        violators = np.nonzero((w2 == 0.0) & (dual > l1))[0]
        order = np.concatenate((np.nonzero(w2 > 0.0)[0],
                                violators[np.argsort(-dual[violators])]))
        _bcd_epoch(Xt, Mt, xbar, h, Rt, W, keep[order], l1, l2, rho, hs, new)
        ws = keep[np.nonzero((W[keep] != 0.0).sum(axis=1) > 0)[0]]
        # Gram-form epochs cost little next to a gradient pass: solve those to the end
        inner_tol = 0.3 * (tol if ws.shape[0] <= GRAM_MAX_SNPS else gap_rel)
        epochs += 1 + _solve_ws(Xt, Mt, xbar, h, Yct, yy, W, Rt, ws, l1, l2, inner_tol,
                                max_epochs)
        G[keep] = _grad(Xk, Rt)
    if refresh and keep.shape[0] < p:
        out = np.ones(p, dtype=np.bool_)
        out[keep] = False
        out_rows = np.nonzero(out)[0]
        G[out_rows] = _grad(Xt[out_rows], Rt)
    return gap_rel, epochs


@njit(nogil=True, cache=True)
def _solve_ws(Xt, Mt, xbar, h, Yct, yy, W, Rt, ws, l1, l2, tol, max_epochs):
    """Solve the problem restricted to the working set ``ws`` (W and Rt updated in place),
    in Gram form when it is small. Returns the number of epochs."""
    size, n, n_tis = ws.shape[0], Xt.shape[1], Mt.shape[0]
    if size > GRAM_MAX_SNPS:
        return _inner_bcd(Xt, Mt, xbar, h, Rt, W, ws, Yct, yy, l1, l2, tol, max_epochs)
    Xw = np.empty((size, n))
    xw = np.empty((size, n_tis))
    Ww = np.empty((size, n_tis))
    for a in range(size):
        Xw[a], xw[a], Ww[a] = Xt[ws[a]], xbar[ws[a]], W[ws[a]]
    epochs = _inner_gram(_gram(Xw, Mt, xw), Xw @ np.ascontiguousarray(Yct.T), Ww, l1, l2, yy,
                         tol, max_epochs)
    for a in range(size):
        W[ws[a]] = Ww[a]
    Rt[:] = _residuals(Yct, Mt, Xw, xw, Ww)
    return epochs


@njit(nogil=True, cache=True)
def _sse(Xt_val, Y_val, M_val, W, c):
    """Held-out squared error; only the SNPs with a non-zero weight cost anything."""
    pred = np.zeros(Y_val.shape) + c
    for s in range(W.shape[0]):
        if (W[s] != 0.0).any():
            for i in range(Xt_val.shape[1]):
                x = np.float64(Xt_val[s, i])
                for k in range(W.shape[1]):
                    pred[i, k] += x * W[s, k]
    return ((M_val * (Y_val - pred)) ** 2).sum()


@njit(nogil=True, cache=True)
def fit_path(Xt, Y, M, xbar, h, lambdas, l1_ratio, tol, max_epochs):
    """Fit one gene along a decreasing penalty path with warm starts.

    Parameters
    ----------
    Xt : (SNPs, individuals) float32 or float64, the cis window transposed (C-contiguous).
    Y, M : (individuals, tissues) float64; Y is ignored where the mask M is 0.
    xbar, h : (SNPs, tissues) from :func:`snp_stats` of this window and mask.
    lambdas : (L,) decreasing penalties; the fit at the last one is returned.

    Returns
    -------
    W : (SNPs, tissues) weights; c : (tissues,) intercepts; gap : relative duality gap;
    epochs : total inner epochs.
    """
    ybar, Yct, yy, Mt, Rt, G = _start(Xt, Y, M)
    W = np.zeros((Xt.shape[0], M.shape[1]))
    gap, epochs = 0.0, 0
    if Xt.shape[0] > 0 and yy > 0.0:
        for li in range(lambdas.shape[0]):
            gap, ep = _solve(Xt, Mt, xbar, h, Yct, yy, W, Rt, G, lambdas[li], l1_ratio, tol,
                             max_epochs, li < lambdas.shape[0] - 1)
            epochs += ep
    return W, ybar - (xbar * W).sum(axis=0), gap, epochs


@njit(nogil=True, cache=True)
def lambda_max(Xt, Y, M, l1_ratio):
    """The smallest penalty at which every weight of the gene is zero."""
    G = _start(Xt, Y, M)[5]
    best = 0.0
    for s in range(G.shape[0]):
        best = max(best, np.sqrt((G[s] * G[s]).sum()))
    return best / (M.shape[0] * l1_ratio)


@njit(nogil=True, cache=True)
def _least_squares(Xt, Mt, xbar, Yct, W):
    """The unpenalised refit of the relaxed fit: per tissue, least squares of the masked,
    centred Yct (tissues x individuals) on the SNPs with a non-zero weight in W (SNPs x
    tissues). Returns weights of W's shape.

    Solved in the eigenbasis of the tissue's centred Gram matrix, leaving out the directions
    along which the SNPs' dosages vary by less than ``MIN_SNP_VARIANCE`` per sample: a SNP
    constant over the tissue's samples (a rare SNP in a small tissue) or two SNPs that are
    one there (tight LD in 5 samples). Their least-squares weights are rounding or noise
    divided by almost nothing (1e292 for a constant SNP; +-1,900 for a pair differing by
    0.02 dosage); left out, the intercept absorbs a constant and a pair shares its weight
    (the minimum-norm solution). Where the kept SNPs leave no residual degree of freedom
    (their number + 1 >= the tissue's samples), least squares would interpolate the
    samples: that tissue keeps the group-LASSO weights W.

    Why an eigendecomposition rather than numba's SVD-based lstsq: that fails to converge on
    such rank-deficient Gram matrices (P <= a few dozen SNPs here)."""
    ws = np.nonzero((W != 0.0).sum(axis=1) > 0)[0]
    out = np.zeros(W.shape)
    if ws.shape[0] == 0:
        return out
    Xw = Xt[ws].astype(np.float64)
    Q = _gram(Xw, Mt, xbar[ws])
    B = Xw @ np.ascontiguousarray(Yct.T)
    for k in range(W.shape[1]):
        n_k = Mt[k].astype(np.float64).sum()
        if ws.shape[0] + 1 >= n_k:
            out[ws, k] = W[ws, k]
            continue
        values, vectors = np.linalg.eigh(Q[k])
        use = np.nonzero(values > MIN_SNP_VARIANCE * n_k)[0]
        if use.shape[0]:
            V = np.ascontiguousarray(vectors[:, use])
            out[ws, k] = V @ ((V.T @ np.ascontiguousarray(B[:, k])) / values[use])
    return out


@njit(nogil=True, cache=True)
def relax_fit(Xt, Y, M, xbar, W, gamma):
    """The relaxed group-LASSO (glmnet's ``relax``; Meinshausen 2007): gamma x the fit W
    plus (1 - gamma) x the least-squares refit on its SNPs. Returns weights and intercepts."""
    ybar, Yct, _ = _centre(Y, M)
    Wb = gamma * W + (1.0 - gamma) * _least_squares(Xt, np.ascontiguousarray(M.T), xbar,
                                                    Yct, W)
    return Wb, ybar - (xbar * Wb).sum(axis=0)


@njit(nogil=True, cache=True)
def _overfits(sse, curve, patience):
    """Track one held-out error curve down the path; ``curve`` is (best, last, rises),
    updated in place. True once it has risen ``patience`` times in a row after its
    minimum."""
    curve[2] = curve[2] + 1 if sse > curve[1] else 0
    curve[0], curve[1] = min(curve[0], sse), sse
    return curve[2] >= patience and sse > curve[0]


@njit(nogil=True, cache=True)
def fold_errors(Xt, Y, M, fold_xbar, fold_h, lambdas, gammas, relax_max_snps, l1_ratio, tol,
                max_epochs, test, patience):
    """Held-out squared error of one gene along its penalty path in each cross-validation
    fold, for each relaxation ``gammas`` (see :func:`relax_fit`; 1 is the plain fit):
    (folds, penalties, gammas). Summing over folds and choosing are the caller's.

    ``test`` (folds, individuals) marks each fold's held-out individuals (any splitter's);
    fold_xbar / fold_h (folds, SNPs, tissues) are :func:`snp_stats` of each fold's training
    individuals. The small penalties that overfit are the slow ones, and the least-squares
    refits of their many SNPs the costly ones. So in each fold the plain fit (gamma 1) and
    the relaxed ones (gamma < 1, by their least error) are followed as two curves; a curve
    stops once it has risen ``patience`` times in a row after its minimum (the relaxed one,
    with fewer SNPs, at larger penalties), the relaxed one also once the fit keeps more than
    ``relax_max_snps`` SNPs, and the fold once both have stopped. The error at the penalties
    a curve skipped is +inf, so they are never chosen.
    """
    err = np.zeros((test.shape[0], lambdas.shape[0], gammas.shape[0]))
    plain, relaxed = gammas == 1.0, gammas < 1.0
    for f in range(test.shape[0]):
        tr = np.nonzero(~test[f])[0]
        te = np.nonzero(test[f])[0]
        Xtr = np.ascontiguousarray(Xt[:, tr])
        Mtr = np.ascontiguousarray(M[tr])
        xbar, h = fold_xbar[f], fold_h[f]
        ybar, Yct, yy, Mt, Rt, G = _start(Xtr, np.ascontiguousarray(Y[tr]), Mtr)
        Xte = np.ascontiguousarray(Xt[:, te])
        Yte, Mte = np.ascontiguousarray(Y[te]), np.ascontiguousarray(M[te])
        W = np.zeros((Xt.shape[0], M.shape[1]))
        curves = np.zeros((2, 3))                       # plain, relaxed: best, last, rises
        curves[:, :2] = np.inf
        active = np.array([plain.any(), relaxed.any()])
        for li in range(lambdas.shape[0]):
            if Xt.shape[0] > 0 and yy > 0.0:
                _solve(Xtr, Mt, xbar, h, Yct, yy, W, Rt, G, lambdas[li], l1_ratio, tol,
                       max_epochs, True)
            if active[1] and ((W != 0.0).sum(axis=1) > 0).sum() > relax_max_snps:
                active[1] = False
                for gi in np.nonzero(relaxed)[0]:
                    err[f, li:, gi] = np.inf
            W_ls = _least_squares(Xtr, Mt, xbar, Yct, W) if active[1] else W
            for c, columns in enumerate((plain, relaxed)):
                if not active[c]:
                    continue
                least = np.inf
                for gi in np.nonzero(columns)[0]:
                    Wb = gammas[gi] * W + (1.0 - gammas[gi]) * W_ls
                    sse = _sse(Xte, Yte, Mte, Wb, ybar - (xbar * Wb).sum(axis=0))
                    err[f, li, gi] = sse
                    least = min(least, sse)
                if _overfits(least, curves[c], patience):
                    active[c] = False
                    for gi in np.nonzero(columns)[0]:
                        err[f, li + 1:, gi] = np.inf
            if not active.any():
                break
    return err
