"""``python -m vts_masking.events worker|events …``: the event commands without the rest."""

from .cli import standalone

standalone(prog_name="python -m vts_masking.events")
