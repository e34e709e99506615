"""The built-in ImageNet-layout mini validation set: the real photos installed packages carry whose
ImageNet-1k class is beyond doubt, as ``imagenet/val/<wnid>/<package>_<photo>.JPEG``.

It exists so that tests and the demo can run ``transfer --task imagenet --dataset imagenet`` offline on
real images with known labels and check the built-in teachers' own classifiers on them. It is *not* an
accuracy estimate: three photos; a number from them says only whether a classifier recognises them.

Which photos, and why each label is beyond doubt (every other photo the packages carry was looked at and
left out, see :data:`LEFT_OUT`):

- scikit-image ``coffee``: a small cup of black coffee with crema on a saucer, seen from above: ImageNet's
  ``espresso`` (n07920052, index 967).
- scikit-image ``chelsea``: the head of Chelsea, a brown mackerel-striped domestic cat: ``tabby`` (n02123045,
  index 281). ImageNet's three striped-cat classes (tabby, tiger cat, Egyptian cat) are known to overlap in
  its own labels, so classifiers often name another of them first.
- matplotlib ``grace_hopper``: the official portrait of Rear Admiral Grace Hopper in US Navy uniform:
  ``military uniform`` (n03763968, index 652); the classic test photo of that class (TensorFlow's
  ``label_image`` example).

Augmented crops of these would not be new samples, so there are none. The files: a JPEG source is copied
byte for byte; a PNG is encoded once with Pillow at quality 95, so a rebuild writes the same bytes.
``photos.json`` beside ``val/`` names each file's source, its sha256, its label and the reason.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ssld_eval.data.sources import package_dir

FOLDER = "imagenet"
JPEG_QUALITY = 95


@dataclass(frozen=True)
class LabelledPhoto:
    module: str  # import name of the package that carries the photo (found without importing it)
    path: str  # the file inside that package
    wnid: str  # its ImageNet-1k class
    why: str  # why that class is beyond doubt

    @property
    def stem(self) -> str:
        return f"{self.module}_{Path(self.path).stem}"


PHOTOS = (
    LabelledPhoto("skimage", "data/coffee.png", "n07920052",
                  "a small cup of black coffee with crema on a saucer: espresso"),
    LabelledPhoto("skimage", "data/chelsea.png", "n02123045",
                  "Chelsea, a domestic cat with a striped (mackerel tabby) coat: tabby"),
    LabelledPhoto("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "n03763968",
                  "Rear Admiral Grace Hopper's official portrait in US Navy uniform: military uniform"),
)
#: photos the packages carry that are not in the set: no ImageNet-1k class, or no single beyond-doubt one
LEFT_OUT = {
    "skimage:astronaut": "a portrait of Eileen Collins in a spacesuit: no ImageNet class",
    "skimage:rocket": "a Falcon 9 on its launch pad: ImageNet has no launch vehicle class (missile, projectile)",
    "skimage:motorcycle_left/right": "a motorcycle: ImageNet-1k has moped and motor scooter, not motorcycle",
    "skimage:camera": "a man filming with a camera on a tripod, grey: tripod or reflex camera, not beyond doubt",
    "sklearn:china.jpg": "the Tower of Buddhist Incense: palace, monastery or bell cote, not beyond doubt",
    "sklearn:flower.jpg": "a dahlia: ImageNet-1k's only garden flower is the daisy",
    "skimage:coins, moon, hubble_deep_field, retina, ...": "textures, scans and microscopy: no ImageNet class",
}


def source_file(photo: LabelledPhoto) -> Path:
    path = package_dir(photo.module) / photo.path
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: reinstall the package {photo.module!r} (it ships the photo)")
    return path


def jpeg_bytes(path: Path) -> bytes:
    """``path`` as a JPEG: its own bytes when it is one, else encoded once (deterministic for one Pillow)."""
    raw = path.read_bytes()
    with Image.open(io.BytesIO(raw)) as image:
        if image.format == "JPEG" and image.mode == "RGB":
            return raw
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
        return buffer.getvalue()


def write_mini_val(root: Path) -> dict[str, int]:
    """Write ``root/val/<wnid>/<stem>.JPEG`` for every photo of :data:`PHOTOS` and ``root/photos.json``."""
    from ssld_eval.datasets.imagenet import imagenet_description, imagenet_index

    index = imagenet_index()
    listed = []
    for photo in PHOTOS:
        source = source_file(photo)
        target = root / "val" / photo.wnid / f"{photo.stem}.JPEG"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(jpeg_bytes(source))
        listed.append({"file": target.relative_to(root).as_posix(), "wnid": photo.wnid, "index": index[photo.wnid],
                       "class": imagenet_description(index[photo.wnid]), "why": photo.why,
                       "source": f"{photo.module}/{photo.path}",
                       "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest()})
    document = {"what": "ImageNet-1k-labelled real photos from installed packages (see ssld_eval.data.imagenet_mini)",
                "photos": listed, "left_out": LEFT_OUT}
    (root / "photos.json").write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    return {"val": len(listed), "classes": len({photo.wnid for photo in PHOTOS})}
