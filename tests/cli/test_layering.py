"""The recognition path imports nothing from training (STYLE.md: data flows one way).

Static: every import statement of the recognition modules, the lazy ones inside functions
included, is read from the source. Dynamic: ``asr decode`` and ``asr transcribe`` run in a fresh
interpreter without ever loading ``asr.train``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RECOGNITION = ["asr/system.py", "asr/batches.py", "asr/checkpoint.py", "asr/device.py", "asr/cli/decode.py",
               "asr/cli/transcribe.py", "asr/cli/lm_decode.py", "asr/cli/args.py", "asr/decode", "asr/features",
               "asr/models", "asr/text", "asr/graph", "asr/gmm", "asr/cli/hmm.py", "asr/cli/score_times.py"]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
    return out


def test_recognition_modules_import_nothing_from_training():
    files = [f for name in RECOGNITION for f in ((REPO / name).rglob("*.py") if (REPO / name).is_dir()
                                                  else [REPO / name])]
    assert len(files) > 10
    bad = [(str(f.relative_to(REPO)), m) for f in files for m in _imports(f) if m.startswith("asr.train")]
    assert not bad, bad


def test_decode_and_transcribe_never_load_asr_train(cli_data, tiny_model, tmp_path):
    _, test = cli_data
    wav = next(iter((test / "wav.scp").read_text().split("\n")[0].split()[1:]))
    code = (
        "import sys\n"
        "from asr.cli.main import main\n"
        f"assert main(['decode', '-q', '--model', {str(tiny_model)!r}, {str(test)!r}, {str(tmp_path / 'd')!r}]) == 0\n"
        f"assert main(['transcribe', '-q', '--model', {str(tiny_model)!r}, {wav!r}]) == 0\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('asr.train'))\n"
        "assert not loaded, loaded\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
