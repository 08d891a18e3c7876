"""Property tests: the processor and geometry take whatever arrays users have without crashing or lying."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from core.analysis.geometry import GeometryOptions, estimate
from core.processor import EfficientLoFTRImageProcessor

DTYPES = st.sampled_from([np.uint8, np.uint16, np.float32, np.float64, np.bool_, np.int32])


@st.composite
def images(draw):
    height = draw(st.integers(1, 90))
    width = draw(st.integers(1, 90))
    channels = draw(st.sampled_from([None, 1, 3, 4]))
    shape = (height, width) if channels is None else (height, width, channels)
    dtype = draw(DTYPES)
    if dtype in (np.float32, np.float64):
        elements = st.floats(0, 1, width=32, allow_subnormal=False)  # tests flush denormals (conftest)
    elif dtype == np.bool_:
        elements = st.booleans()
    elif dtype == np.int32:
        elements = st.integers(0, 70000)
    else:
        elements = None
    return draw(arrays(dtype, shape, elements=elements))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=images(), b=images(), long_side=st.sampled_from([None, 64, 100]))
def test_processor_accepts_any_reasonable_array(a, b, long_side):
    processor = (
        EfficientLoFTRImageProcessor(long_side=long_side)
        if long_side
        else EfficientLoFTRImageProcessor(size={"height": 64, "width": 96})
    )
    out = processor([a, b], return_tensors="pt")
    for side in (0, 1):
        height, width = out["input_sizes"][0, side].tolist()
        tensor = out["pixel_values"][0, side, :, :height, :width]
        assert tensor.shape[-1] % 32 == 0 and tensor.shape[-2] % 32 == 0
        assert float(tensor.min()) >= 0.0 and float(tensor.max()) <= 1.0 + 1e-6
        assert not tensor.isnan().any()
    assert out["image_sizes"].tolist() == [[list(a.shape[:2]), list(b.shape[:2])]]


points = arrays(
    np.float64,
    st.tuples(st.integers(0, 40), st.just(2)),
    elements=st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False, allow_subnormal=False),
)


@settings(max_examples=80, deadline=None)
@given(kpts0=points, data=st.data(), model=st.sampled_from(["H", "F", "none"]), duplicate=st.booleans())
def test_geometry_never_raises_and_keeps_shapes(kpts0, data, model, duplicate):
    kpts1 = data.draw(
        arrays(
            np.float64,
            kpts0.shape,
            elements=st.floats(-1e4, 1e4, allow_nan=False, allow_infinity=False, allow_subnormal=False),
        )
    )
    if duplicate and len(kpts0):
        kpts0 = np.repeat(kpts0[:1], len(kpts0), axis=0)
    result = estimate(kpts0, kpts1, GeometryOptions(model=model))
    assert len(result.inliers) == len(kpts0) == len(result.residuals)
    assert result.status
    if result.ok:
        assert result.matrix.shape == (3, 3)
        assert np.all(result.inliers == (result.residuals <= result.threshold_px))
    else:
        assert not result.inliers.any()
