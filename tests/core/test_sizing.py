from core.analysis.sizing import MAX_COARSE_ENTRIES, coarse_entries, plan_inference_sizes


def test_usual_sizes_are_kept():
    sizes, notes = plan_inference_sizes(((3000, 4000), (768, 1024)), None, 640)
    assert sizes == ((480, 640), (480, 640)) and notes == []


def test_very_large_images_are_downscaled_together_with_a_note():
    sizes, notes = plan_inference_sizes(((6000, 8000), (4000, 6000)), None, None)  # "full size"
    assert coarse_entries(*sizes) <= MAX_COARSE_ENTRIES
    assert all(h % 32 == 0 and w % 32 == 0 for h, w in sizes)
    assert abs(sizes[0][1] / sizes[0][0] - 8000 / 6000) < 0.05, "aspect kept"
    assert len(notes) == 1 and "to stay within memory" in notes[0]
    assert max(max(s) for s in sizes) >= 1024, "not shrunk more than needed"


def test_fixed_size_and_tiny_images():
    assert plan_inference_sizes(((10, 10), (20, 5000)), {"height": 480, "width": 640}, None)[0] == (
        (480, 640),
        (480, 640),
    )
    sizes, _ = plan_inference_sizes(((16, 16), (40, 17)), None, 640)
    assert all(h >= 32 and w >= 32 for h, w in sizes)
