"""A real matching run of the rendered scene (tests/rendered_scene.py) for track tests: its views matched by our SIFT
batch into a COLMAP database, verified by pycolmap, and triangulated by pycolmap from the known poses.

Layout of the folder: images/view_NN.png, run/ (the batch output: pairs/, database.db, pairs_matched.txt),
run/sparse/0 (the model, where `match-inspector tracks` finds it beside the database).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.cli import run_cli
from tests.rendered_scene import RenderedScene, render_scene

VIEWS = 6
SIZE = (240, 320)  # small: rendering is ray casting in numpy
NEIGHBOURS = 2  # each view matched with the next two


@dataclass(frozen=True)
class SceneRun:
    scene: RenderedScene
    images: Path
    run: Path  # the batch output folder
    database: Path
    model: Path

    def view(self, name: str) -> int:
        """The scene view an image name stands for (view_NN.png)."""
        return int(Path(name).stem.split("_")[1])


def write_scene_run(folder: Path, views: int = VIEWS, size: tuple[int, int] = SIZE) -> SceneRun:
    import pycolmap

    scene = render_scene(count=views, size=size)
    images = folder / "images"
    scene.write(images)
    pairs = folder / "pairs.txt"
    lines = [
        f"view_{a:02d}.png view_{b:02d}.png" for a in range(views) for b in range(a + 1, min(a + 1 + NEIGHBOURS, views))
    ]
    pairs.write_text("\n".join(lines) + "\n")
    run = folder / "run"
    argv = ["batch", "--pairs", str(pairs), "--images", str(images), "-o", str(run), "--matcher", "sift"]
    code = run_cli([*argv, "--format", "colmap", "--no-progress"])
    assert code == 0, "the SIFT batch of the rendered scene failed"
    database = run / "database.db"
    pycolmap.verify_matches(str(database), str(run / "pairs_matched.txt"))
    model = run / "sparse" / "0"
    model.mkdir(parents=True)
    pycolmap.triangulate_points(_known_poses(scene, database), str(database), str(images), str(model))
    return SceneRun(scene, images, run, database, model)


def _known_poses(scene: RenderedScene, database: Path):  # -> pycolmap.Reconstruction
    """The scene's true cameras and poses under the database's image and camera ids (COLMAP's principal point is
    ours + 0.5: its origin is the corner of the first pixel)."""
    import pycolmap

    db = pycolmap.Database.open(str(database))
    reconstruction = pycolmap.Reconstruction()
    try:
        for image in db.read_all_images():
            view = scene.views[int(Path(image.name).stem.split("_")[1])]
            h, w = view.depth.shape
            K = view.K
            # the database's model (SIMPLE_RADIAL, as our writer stores it) with the true focal length, no distortion
            camera = pycolmap.Camera.create_from_model_name(image.camera_id, "SIMPLE_RADIAL", K[0, 0], w, h)
            camera.params = [K[0, 0], K[0, 2] + 0.5, K[1, 2] + 0.5, 0.0]
            reconstruction.add_camera_with_trivial_rig(camera)
            pose = pycolmap.Rigid3d(pycolmap.Rotation3d(view.R), view.t)
            reconstruction.add_image_with_trivial_frame(
                pycolmap.Image(name=image.name, camera_id=image.camera_id, image_id=image.image_id), pose
            )
    finally:
        db.close()
    return reconstruction
