"""``vts/_async_resources.py`` is generated from ``vts/_resources.py``; this keeps them equal.

Regenerate after editing the sync resources: ``python tests/sdk/test_async_twin.py``.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "vts"
SRC = PACKAGE / "_resources.py"
DST = PACKAGE / "_async_resources.py"

HEADER = '''"""The resources of the asynchronous client (``vts.AsyncRestClient``).

GENERATED from ``_resources.py`` by ``python tests/sdk/test_async_twin.py``: do not edit.
"""
'''


def generate(source: str) -> str:
    body = source[source.index('"""', 3) + 3 :].lstrip("\n")
    body = body.replace("from .client import RestClient", "from .client import AsyncRestClient")
    body = body.replace("client: RestClient", "client: AsyncRestClient")
    body = body.replace("import Iterator,", "import AsyncIterator,")
    body = body.replace("Iterator[", "AsyncIterator[")
    names = re.findall(r"^class (\w+)\(_Resource\)", body, flags=re.M)
    for name in names:
        body = re.sub(rf'\b{name}\b(?=\(_Resource\)|")', f"Async{name}", body)
    body = body.replace("return self._client._request(", "return await self._client._request(")
    body = body.replace("return self._client._download(", "return await self._client._download(")
    lines = body.split("\n")
    out = []
    for index, line in enumerate(lines):
        match = re.match(r"^    def ([a-z]\w*)\(", line)
        if match:
            end = index
            while not lines[end].rstrip().endswith(":"):
                end += 1
            if "AsyncIterator[" not in lines[end]:
                line = line.replace("    def ", "    async def ", 1)
        out.append(line)
    body = "\n".join(out)
    body = re.sub(r"__all__ = \[[^\]]*\]", lambda m: _sorted_all(m.group(0)), body)
    return _format(HEADER + "\n" + body)


def _format(source: str) -> str:
    # Formatted like every other file, so the longer async lines stay within the limit.
    return subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(DST), "-"],
        input=source,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def _sorted_all(text: str) -> str:
    names = sorted(re.findall(r'"(\w+)"', text))
    return "__all__ = [" + ", ".join(f'"{n}"' for n in names) + "]"


def test_async_resources_are_generated_from_the_sync_ones():
    assert DST.read_text() == generate(SRC.read_text()), "run: python tests/sdk/test_async_twin.py"


def test_every_sync_method_has_an_async_twin_with_the_same_signature():
    import vts

    sync_client = vts.RestClient("MA" + "A" * 18, "token")
    async_client = vts.AsyncRestClient("MA" + "A" * 18, "token")
    resources = ("masking_sessions", "numbers", "subaccounts", "calls", "recordings", "account")
    for resource in resources:
        sync_res = getattr(sync_client, resource)
        async_res = getattr(async_client, resource)
        public = [n for n in dir(sync_res) if not n.startswith("_")]
        assert public
        for name in public:
            s = inspect.signature(getattr(sync_res, name))
            a = inspect.signature(getattr(async_res, name))
            assert list(s.parameters) == list(a.parameters), (resource, name)
            if name == "list_all":
                assert not inspect.iscoroutinefunction(getattr(async_res, name))
            else:
                assert inspect.iscoroutinefunction(getattr(async_res, name)), (resource, name)
    sync_client.close()


if __name__ == "__main__":
    DST.write_text(generate(SRC.read_text()))
    sys.exit(0)
