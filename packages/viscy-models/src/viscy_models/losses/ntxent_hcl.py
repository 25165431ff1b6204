"""NT-Xent with hard-negative concentration (HCL), in log space, by blocks of rows."""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from viscy_models.losses._distributed import (
    all_gather_no_grad,
    all_gather_with_grad,
    world_size_and_rank,
)

# Rows are processed in blocks of about this many (row, column) entries (4 MiB in float32),
# so that memory grows with N rather than N^2 and each elementwise pass stays in cache.
_BLOCK_ENTRIES = 1 << 20


def _same_label_pairs(row_labels: Tensor, col_labels: Tensor, col_offset: int):
    """Find every (row, column) pair with equal labels, in O(N log N + pairs).

    Returns the positive pairs ``(i, j)`` (self pairs ``j == i + col_offset`` removed),
    sorted by ``i``, and for each row the number of columns sharing its label (self
    included), without building an (N, N) mask.
    """
    order = torch.argsort(col_labels, stable=True)
    sorted_labels = col_labels[order]
    low = torch.searchsorted(sorted_labels, row_labels, side="left")
    counts = torch.searchsorted(sorted_labels, row_labels, side="right") - low
    rows = torch.arange(row_labels.shape[0], device=row_labels.device)
    i = torch.repeat_interleave(rows, counts)
    # The k-th pair of row i is the (k - first pair of row i)-th column of i's label run.
    shift = torch.repeat_interleave(low - (torch.cumsum(counts, 0) - counts), counts)
    j = order[torch.arange(i.shape[0], device=i.device) + shift]
    keep = j != i + col_offset
    return i[keep], j[keep], counts


def _mask_non_negatives(logits, pos_i, pos_j, start, col_offset) -> None:
    """Set the self and positive entries of a block of rows (from ``start``) to -inf."""
    local = torch.arange(logits.shape[0], device=logits.device)
    logits[local, local + start + col_offset] = -math.inf
    logits[pos_i - start, pos_j] = -math.inf


class _NTXentHCLFunction(torch.autograd.Function):
    """Mean HCL loss over positive pairs and mean negatives per anchor, by blocks of rows.

    The backward is written by hand and recomputes each block's similarities, so memory
    holds O(N) vectors, the positive pairs and two blocks: never a full (N, N) matrix.
    """

    @staticmethod
    def forward(ctx, rows, cols, row_labels, col_labels, col_offset, temperature, beta):
        n_rows, n_cols = rows.shape[0], cols.shape[0]
        block = max(1, _BLOCK_ENTRIES // max(n_cols, 1))
        rows_t = rows * (1.0 / temperature)
        pos_i, pos_j, n_same = _same_label_pairs(row_labels, col_labels, col_offset)
        n_neg = n_cols - n_same
        has_neg = n_neg > 0
        s_pos = rows.new_empty(pos_i.shape)
        starts = torch.arange(0, n_rows + block, block, device=pos_i.device)
        bounds = torch.searchsorted(pos_i, starts).tolist()

        row_max = torch.zeros(n_rows, dtype=rows.dtype, device=rows.device)
        sum_a, sum_b = torch.zeros_like(row_max), torch.zeros_like(row_max)
        buffer = rows.new_empty((min(block, n_rows), n_cols))
        scratch = torch.empty_like(buffer) if beta else None
        for k, start in enumerate(range(0, n_rows, block)):
            stop, (lo, hi) = min(start + block, n_rows), bounds[k : k + 2]
            logits = torch.mm(rows_t[start:stop], cols.T, out=buffer[: stop - start])
            s_pos[lo:hi] = logits[pos_i[lo:hi] - start, pos_j[lo:hi]]
            _mask_non_negatives(logits, pos_i[lo:hi], pos_j[lo:hi], start, col_offset)
            # u = s / t - max over negatives (<= 0); -inf off the negatives.
            block_max = torch.where(has_neg[start:stop], logits.amax(dim=1), 0.0)
            logits.sub_(block_max[:, None])
            row_max[start:stop] = block_max
            if beta:
                part = torch.mul(logits, beta, out=scratch[: stop - start]).exp_()
                sum_b[start:stop] = part.sum(dim=1)
                logits.mul_(1.0 + beta)
            sum_a[start:stop] = logits.exp_().sum(dim=1)
        del buffer, scratch

        # log of sum_n w_in exp(s_in / t) = max + log|N(i)| + log sum_a - log sum_b.
        log_neg = row_max + sum_a.log()
        if beta:
            log_neg += n_neg.to(rows.dtype).log() - sum_b.log()
        log_neg = torch.where(has_neg, log_neg, -math.inf)
        margin = log_neg[pos_i] - s_pos
        n_pairs = max(pos_i.numel(), 1)
        loss = F.softplus(margin).sum() / n_pairs

        ctx.save_for_backward(rows, cols, pos_i, pos_j, margin)
        ctx.stats = (row_max, sum_a, sum_b, has_neg, bounds)
        ctx.params = (col_offset, temperature, beta, n_pairs, block)
        negatives_per_anchor = n_neg.to(rows.dtype).sum() / max(n_rows, 1)
        ctx.mark_non_differentiable(negatives_per_anchor)
        return loss, negatives_per_anchor

    @staticmethod
    def backward(ctx, grad_loss, _grad_negatives):
        rows, cols, pos_i, pos_j, margin = ctx.saved_tensors
        row_max, sum_a, sum_b, has_neg, bounds = ctx.stats
        col_offset, temperature, beta, n_pairs, block = ctx.params
        n_rows, inv_t = rows.shape[0], 1.0 / temperature
        with torch.autocast(rows.device.type, enabled=False):
            # dL/d(log_neg_i) sums sigmoid(margin_ip) / n_pairs over i's positives p.
            g_pair = torch.sigmoid(margin) * (grad_loss / n_pairs)
            g_row = torch.zeros_like(row_max).index_add_(0, pos_i, g_pair)
            # d(log_neg_i)/d(s_in) = ((1 + beta) a_in - beta b_in) / t, where a and b are the
            # softmax of (1 + beta) s / t and of beta s / t over i's negatives.
            coef_a = torch.where(has_neg, g_row * ((1.0 + beta) * inv_t) / sum_a, 0.0)
            coef_b = torch.where(has_neg, g_row * (beta * inv_t) / sum_b, 0.0) if beta else None
            need_rows, need_cols = ctx.needs_input_grad[:2]
            grad_rows = torch.empty_like(rows) if need_rows else None
            grad_cols = torch.zeros_like(cols) if need_cols else None
            rows_t = rows * inv_t
            buffer = rows.new_empty((min(block, n_rows), cols.shape[0]))
            scratch = torch.empty_like(buffer) if beta else None
            for k, start in enumerate(range(0, n_rows, block)):
                stop, (lo, hi) = min(start + block, n_rows), bounds[k : k + 2]
                grad = torch.mm(rows_t[start:stop], cols.T, out=buffer[: stop - start])
                _mask_non_negatives(grad, pos_i[lo:hi], pos_j[lo:hi], start, col_offset)
                grad.sub_(row_max[start:stop, None])
                if beta:
                    part = torch.mul(grad, beta, out=scratch[: stop - start]).exp_()
                    part.mul_(coef_b[start:stop, None])
                    grad.mul_(1.0 + beta)
                grad.exp_().mul_(coef_a[start:stop, None])
                if beta:
                    grad.sub_(part)
                grad[pos_i[lo:hi] - start, pos_j[lo:hi]] = -inv_t * g_pair[lo:hi]
                if need_rows:
                    torch.mm(grad, cols, out=grad_rows[start:stop])
                if need_cols:
                    grad_cols.addmm_(grad.T, rows[start:stop])
        return grad_rows, grad_cols, None, None, None, None, None


class NTXentHCL(nn.Module):
    r"""NT-Xent contrastive loss with hard-negative concentration (HCL).

    Follows the metric-learning call convention ``loss(embeddings, labels)``: every
    ordered pair ``(i, p)`` of distinct items with equal labels is a positive pair, the
    items with other labels are the negatives ``N(i)`` of anchor ``i``, and the loss is
    the mean over positive pairs of

    .. math::

        \ell_{ip} = -\log \frac{e^{s_{ip}/t}}
            {e^{s_{ip}/t} + \sum_{n \in N(i)} w_{in} e^{s_{in}/t}},
        \qquad
        w_{in} = \frac{e^{\beta s_{in}/t}}
            {\frac{1}{|N(i)|} \sum_{n' \in N(i)} e^{\beta s_{in'}/t}},

    with ``s`` the cosine similarity and ``t`` the temperature. The weights have mean 1
    over each anchor's negatives, so ``beta = 0`` is exactly NT-Xent (SimCLR) and
    ``beta > 0`` concentrates the negative term on the negatives most similar to the
    anchor: the importance-sampling estimator of Robinson et al., "Contrastive Learning
    with Hard Negative Samples", ICLR 2021, with their debiasing off
    (``tau_plus = 0``). As in the paper's objective and its reference code, gradients flow
    through the weights: they are a function of the embeddings, not constants. An anchor
    without negatives contributes a loss of 0, and a batch without positive pairs gives 0.

    The loss is computed in float32 (float64 inputs stay float64) with autocast disabled,
    in log space (minus each row's largest negative logit), by blocks of rows with a
    hand-written backward: memory is O(N D) plus two blocks of about 2^20 similarities,
    never an (N, N) matrix, let alone (N, N, N); time is O(N^2 D).

    Parameters
    ----------
    temperature : float
        Softmax temperature ``t`` > 0, default 0.07; 0.05 to 0.2 is the usual range.
    beta : float
        Hard-negative concentration ``beta`` >= 0, default 0.5; 0 gives plain NT-Xent.
    gather_distributed : bool
        Under DDP, all-gather embeddings from every rank so that negatives span the global
        batch (gradients flow to each rank's own shard). Labels stay local to a rank: items
        of different ranks are always negatives of each other. Default False.

    Raises
    ------
    ValueError
        If ``temperature`` is not a finite number > 0 or ``beta`` not a finite number >= 0.

    Examples
    --------
    >>> loss = NTXentHCL(temperature=0.1, beta=0.5)
    >>> anchor_and_positive = torch.randn(8, 16)
    >>> labels = torch.arange(4).repeat(2)
    >>> loss(anchor_and_positive, labels).shape
    torch.Size([])
    """

    def __init__(
        self, temperature: float = 0.07, beta: float = 0.5, gather_distributed: bool = False
    ) -> None:
        super().__init__()
        if not (isinstance(temperature, int | float) and math.isfinite(temperature)):
            raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
        if temperature <= 0:
            raise ValueError(
                f"temperature must be > 0, got {temperature!r}; typical values are 0.05 to 0.2"
            )
        if not (isinstance(beta, int | float) and math.isfinite(beta)) or beta < 0:
            raise ValueError(
                f"beta must be a finite number >= 0, got {beta!r}; 0 gives plain NT-Xent and "
                "the HCL paper uses 0.1 to 1.0"
            )
        self.temperature = float(temperature)
        self.beta = float(beta)
        self.gather_distributed = bool(gather_distributed)
        # Mean number of negatives per anchor in the last call (global under gathering).
        self.last_negatives_per_anchor: Tensor | None = None

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, beta={self.beta}, "
            f"gather_distributed={self.gather_distributed}"
        )

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Return the mean loss over positive pairs, a float32 scalar.

        Parameters
        ----------
        embeddings : Tensor
            Shape ``(N, D)``, any float dtype; L2-normalised here.
        labels : Tensor
            Shape ``(N,)``, integer identities; equal labels mark positive pairs.

        Raises
        ------
        ValueError
            If the shapes do not match ``(N, D)`` and ``(N,)``.
        """
        if embeddings.ndim != 2 or labels.shape != embeddings.shape[:1]:
            raise ValueError(
                f"expected embeddings of shape (N, D) and labels of shape (N,), got "
                f"{tuple(embeddings.shape)} and {tuple(labels.shape)}"
            )
        dtype = torch.promote_types(embeddings.dtype, torch.float32)
        with torch.autocast(embeddings.device.type, enabled=False):
            rows = F.normalize(embeddings.to(dtype), dim=1)
            labels = labels.to(rows.device)
            cols, col_labels, offset = rows, labels, 0
            if self.gather_distributed and world_size_and_rank()[0] > 1:
                cols, offset = all_gather_with_grad(rows)
                # Dense per-rank ids shifted by the shard offset: pairs never span ranks.
                labels = torch.unique(labels, return_inverse=True)[1] + offset
                col_labels = all_gather_no_grad(labels)
            loss, negatives_per_anchor = _NTXentHCLFunction.apply(
                rows, cols, labels, col_labels, offset, self.temperature, self.beta
            )
        self.last_negatives_per_anchor = negatives_per_anchor
        return loss
