"""Feature flags at the edge: flagd-format definitions, compiled once, evaluated in-process.

Pure: definitions and a visitor's context in, a variant out. Definitions reach a box as a
signed bundle (bundle.py); a missing or unverifiable one means every flag's default variant.
The format is flagd's (https://flagd.dev/reference/flag-definitions/), so a creator's existing
flag files work unchanged; docs/flags.md says which JsonLogic operators are supported.
"""
