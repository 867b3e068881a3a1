"""Extract the 1000 ImageNet class names shipped in ``data/imagenet_classes.txt``.

Source: the npm package ``@tensorflow-models/mobilenet`` (Apache-2.0), file
``dist/imagenet_classes.js``. Rebuild with::

    npm pack @tensorflow-models/mobilenet && tar xzf tensorflow-models-mobilenet-*.tgz
    python scripts/build_imagenet_classes.py package/dist/imagenet_classes.js

Writes one class name per line, line ``i`` (0-based) naming class index ``i``.
"""

import ast
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "data" / "imagenet_classes.txt"
ENTRY = re.compile(r"^\s*(\d+):\s*((?:'(?:[^'\\]|\\.)*'\s*\+?\s*)+),?\s*$", re.MULTILINE)


def parse(js_source: str) -> list[str]:
    # The JS object spans lines where long names are concatenated with '+'; join those first.
    joined = re.sub(r"\+\s*\n\s*", "+ ", js_source)
    names = {}
    for index, literal in ENTRY.findall(joined):
        parts = re.findall(r"'(?:[^'\\]|\\.)*'", literal)
        names[int(index)] = "".join(ast.literal_eval(p) for p in parts)
    if sorted(names) != list(range(1000)):
        raise ValueError(f"Expected classes 0..999, found {len(names)} entries")
    return [names[i] for i in range(1000)]


if __name__ == "__main__":
    classes = parse(Path(sys.argv[1]).read_text(encoding="utf-8"))
    OUT.write_text("\n".join(classes) + "\n", encoding="utf-8")
    print(f"wrote {len(classes)} class names to {OUT}")
