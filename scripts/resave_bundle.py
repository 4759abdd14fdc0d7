"""Write a model bundle again in this facecheck's format: `python scripts/resave_bundle.py SRC OUT [--force]`.

Bundles written by facecheck 0.6 and earlier keep the appearance witness's weights as a torch file, which
only loads where torch is installed; the copy keeps them as .npz (no pickle) and scans without torch,
with the same mixtures, threshold and held-out scores.
"""

import argparse

from facecheck.model.bundle import resave_bundle

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("src")
parser.add_argument("out")
parser.add_argument("--force", action="store_true", help="replace OUT if it exists")
args = parser.parse_args()
print(resave_bundle(args.src, args.out, force=args.force))
