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
set's per-tissue Gram matrices, and the duality gap of the full problem as the stopping
rule. The kernels release the GIL, so genes are solved on parallel threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_NEWTON_STEPS = 60


@njit(nogil=True, cache=True)
def _block_solve(rho, h, l1, l2, out):
    """argmin_v sum_k (h_k + l2) v_k^2 / 2 - rho_k v_k + l1 ||v||_2, written into ``out``.

    v_k = rho_k t / ((h_k + l2) t + l1) with t = ||v|| the root of
    phi(t) = sum_k rho_k^2 / ((h_k + l2) t + l1)^2 - 1, found by Newton's method from t = 0
    (phi is convex and decreasing, so the iterates increase monotonically to the root).
    """
    norm2 = 0.0
    for k in range(rho.shape[0]):
        norm2 += rho[k] * rho[k]
    if norm2 <= l1 * l1:
        out[:] = 0.0
        return
    t = 0.0
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
def _gap(W, XtR, rr, ry, yy, l1, l2):
    """Duality gap (of the objective times n) from W, X^T R, ||R||^2, R.Y and ||Y||^2."""
    p, n_tis = W.shape
    dual_norm, pen21, w2 = 0.0, 0.0, 0.0
    for s in range(p):
        a2, n2 = 0.0, 0.0
        for k in range(n_tis):
            a = XtR[s, k] - l2 * W[s, k]
            a2 += a * a
            n2 += W[s, k] * W[s, k]
        dual_norm = max(dual_norm, np.sqrt(a2))
        pen21 += np.sqrt(n2)
        w2 += n2
    if dual_norm > l1:
        const = l1 / dual_norm
        gap = 0.5 * (rr + rr * const * const)
    else:
        const = 1.0
        gap = rr
    return gap + l1 * pen21 - const * ry + 0.5 * l2 * (1.0 + const * const) * w2


@njit(nogil=True, cache=True)
def _residuals(Xt, Yc, M, xbar, W, support):
    """Masked, per-tissue centred residuals R (individuals x tissues) for W on ``support``."""
    R = Yc.copy()
    for s in support:
        for k in range(Yc.shape[1]):
            w = W[s, k]
            if w != 0.0:
                for i in range(Yc.shape[0]):
                    R[i, k] -= M[i, k] * (Xt[s, i] - xbar[k, s]) * w
    return R


@njit(nogil=True, cache=True)
def _gram(Xt, M, xbar, nk, ws):
    """Per-tissue centred Gram matrices of the working-set SNPs: (tissues, P, P)."""
    P, n_tis = ws.shape[0], M.shape[1]
    Xw = np.empty((P, Xt.shape[1]))
    for a in range(P):
        Xw[a] = Xt[ws[a]]
    Q = np.empty((n_tis, P, P))
    for k in range(n_tis):
        Q[k] = Xw @ (Xw * M[:, k]).T
        for a in range(P):
            for b in range(P):
                Q[k, a, b] -= nk[k] * xbar[k, ws[a]] * xbar[k, ws[b]]
    return Q


@njit(nogil=True, cache=True)
def _inner_bcd(Q, B, W, l1, l2, yy, tol, max_epochs):
    """Block coordinate descent on the working set (Gram form); stops on its duality gap.

    Q (tissues, P, P), B (P, tissues) = X_ws^T Yc, W (P, tissues) updated in place.
    Returns the number of epochs.
    """
    n_tis, P = Q.shape[0], Q.shape[1]
    QW = np.zeros((n_tis, P))
    for k in range(n_tis):
        QW[k] = Q[k] @ np.ascontiguousarray(W[:, k])
    rho, h, new = np.empty(n_tis), np.empty(n_tis), np.empty(n_tis)
    epoch = 0
    for epoch in range(1, max_epochs + 1):
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
        if epoch % 5 == 0 or epoch == max_epochs:
            # ||R||^2 = yy - 2 B.W + W.QW ; R.Y = yy - B.W ; X^T R = B - QW^T
            bw, wqw = 0.0, 0.0
            XtR = np.empty((P, n_tis))
            for s in range(P):
                for k in range(n_tis):
                    bw += B[s, k] * W[s, k]
                    wqw += W[s, k] * QW[k, s]
                    XtR[s, k] = B[s, k] - QW[k, s]
            if _gap(W, XtR, yy - 2.0 * bw + wqw, yy - bw, yy, l1, l2) <= tol * yy:
                break
    return epoch


@njit(nogil=True, cache=True)
def _setup(Xt, Y, M):
    """Per-tissue centring of one gene's data: (nk, ybar, Yc, xbar, B = X^T Yc, ||Yc||^2)."""
    nk = M.sum(axis=0)
    safe = np.maximum(nk, 1.0)
    ybar = (M * Y).sum(axis=0) / safe
    Yc = M * (Y - ybar)
    xbar = np.ascontiguousarray((Xt @ M).T) / safe.reshape(-1, 1)   # (tissues, SNPs)
    return nk, ybar, Yc, xbar, Xt @ Yc, (Yc * Yc).sum()


@njit(nogil=True, cache=True)
def _solve(Xt, M, nk, Yc, xbar, B, yy, W, support, lam, l1_ratio, tol, max_epochs):
    """Solve at one penalty from the warm start W (updated in place).

    Working sets grow from the SNPs that most violate the optimality conditions until the
    duality gap of the full problem is below tol * yy. Returns (relative gap, epochs,
    the last working set).
    """
    p, n = Xt.shape
    n_tis = M.shape[1]
    l1 = n * lam * l1_ratio
    l2 = n * lam * (1.0 - l1_ratio)
    inner_tol = 0.3 * tol
    gap_rel, epochs = 0.0, 0
    for _ in range(100):
        R = _residuals(Xt, Yc, M, xbar, W, support)
        XtR = Xt @ R
        gap = _gap(W, XtR, (R * R).sum(), (R * Yc).sum(), yy, l1, l2)
        gap_rel = gap / yy
        if gap <= tol * yy:
            break
        score = np.empty(p)
        n_active = 0
        for s in range(p):
            a2, w2 = 0.0, 0.0
            for k in range(n_tis):
                a = XtR[s, k] - l2 * W[s, k]
                a2 += a * a
                w2 += W[s, k] * W[s, k]
            if w2 > 0.0:
                score[s] = np.inf
                n_active += 1
            else:
                score[s] = np.sqrt(a2) / l1
        size = min(p, max(10, 2 * n_active))
        support = np.sort(np.argsort(-score)[:size])
        Q = _gram(Xt, M, xbar, nk, support)
        Bw = np.empty((size, n_tis))
        Ww = np.empty((size, n_tis))
        for a in range(size):
            Bw[a] = B[support[a]]
            Ww[a] = W[support[a]]
        epochs += _inner_bcd(Q, Bw, Ww, l1, l2, yy, inner_tol, max_epochs)
        for a in range(size):
            W[support[a]] = Ww[a]
        inner_tol *= 0.1
    return gap_rel, epochs, support


@njit(nogil=True, cache=True)
def _sse(Xt_val, Y_val, M_val, W, c):
    pred = np.ascontiguousarray(Xt_val.T) @ W + c
    return ((M_val * (Y_val - pred)) ** 2).sum()


@njit(nogil=True, cache=True)
def fit_path(Xt, Y, M, lambdas, l1_ratio, tol, max_epochs):
    """Fit one gene along a decreasing penalty path with warm starts.

    Parameters
    ----------
    Xt : (SNPs, individuals) float64, the cis window transposed (C-contiguous).
    Y, M : (individuals, tissues) float64; Y is ignored where the mask M is 0.
    lambdas : (L,) decreasing penalties; the fit at the last one is returned.

    Returns
    -------
    W : (SNPs, tissues) weights; c : (tissues,) intercepts; gap : relative duality gap;
    epochs : total inner epochs.
    """
    nk, ybar, Yc, xbar, B, yy = _setup(Xt, Y, M)
    W = np.zeros((Xt.shape[0], M.shape[1]))
    gap, epochs = 0.0, 0
    support = np.zeros(0, dtype=np.int64)
    if Xt.shape[0] > 0 and yy > 0.0:
        for lam in lambdas:
            gap, ep, support = _solve(Xt, M, nk, Yc, xbar, B, yy, W, support, lam, l1_ratio,
                                      tol, max_epochs)
            epochs += ep
    return W, ybar - (xbar * W.T).sum(axis=1), gap, epochs


@njit(nogil=True, cache=True)
def lambda_max(Xt, Y, M, l1_ratio):
    """The smallest penalty at which every weight of the gene is zero."""
    n = M.shape[0]
    nk = np.maximum(M.sum(axis=0), 1.0)
    Yc = M * (Y - (M * Y).sum(axis=0) / nk)
    G = Xt @ Yc
    best = 0.0
    for s in range(G.shape[0]):
        best = max(best, np.sqrt((G[s] * G[s]).sum()))
    return best / (n * l1_ratio)


@njit(nogil=True, cache=True)
def cv_errors(Xt, Y, M, lambdas, l1_ratio, tol, max_epochs, folds, patience):
    """K-fold cross-validated squared error of one gene along its penalty path.

    ``folds`` gives each individual's fold (0 .. n_folds - 1). A fold stops descending the
    path once its held-out error has risen ``patience`` times in a row after its minimum
    (the small penalties that overfit are the slow ones); the error at the penalties it
    skipped is +inf, so they are never chosen.
    """
    n_folds = folds.max() + 1
    err = np.zeros(lambdas.shape[0])
    for f in range(n_folds):
        tr = np.nonzero(folds != f)[0]
        te = np.nonzero(folds == f)[0]
        Xtr = np.ascontiguousarray(Xt[:, tr])
        Mtr = np.ascontiguousarray(M[tr])
        nk, ybar, Yc, xbar, B, yy = _setup(Xtr, np.ascontiguousarray(Y[tr]), Mtr)
        Xte = np.ascontiguousarray(Xt[:, te])
        Yte, Mte = np.ascontiguousarray(Y[te]), np.ascontiguousarray(M[te])
        W = np.zeros((Xt.shape[0], M.shape[1]))
        support = np.zeros(0, dtype=np.int64)
        best, rises, last = np.inf, 0, np.inf
        for li in range(lambdas.shape[0]):
            if Xt.shape[0] > 0 and yy > 0.0:
                _, _, support = _solve(Xtr, Mtr, nk, Yc, xbar, B, yy, W, support, lambdas[li],
                                       l1_ratio, tol, max_epochs)
            sse = _sse(Xte, Yte, Mte, W, ybar - (xbar * W.T).sum(axis=1))
            err[li] += sse
            rises = rises + 1 if sse > last else 0
            last, best = sse, min(best, sse)
            if rises >= patience and sse > best:
                err[li + 1:] = np.inf
                break
    return err
