"""The quality-check parameters as the kernels read them."""

from __future__ import annotations

from flowcast.kernels import quality as kq
from flowcast.kernels.quality_params import QualityParams


def test_quality_params_vector() -> None:
    qp = QualityParams(stuck_buckets=9).to_array(900)
    assert qp.shape == (kq.N_QP,) and qp[kq.QP_STUCK_BUCKETS] == 9
    assert qp[kq.QP_BUCKETS_PER_DAY] == 96 and qp[kq.QP_BUCKET_HOURS] == 0.25
    assert qp[kq.QP_IMPUTE_MASK] == kq.DEFAULT_IMPUTE_MASK
