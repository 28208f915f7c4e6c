"""The console on the Linux VT: its font (PSF, ≤512 glyphs), its colours, and what it may draw."""
