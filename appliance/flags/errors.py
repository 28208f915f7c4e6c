"""Why flag definitions or a bundle were refused."""

from __future__ import annotations


class FlagError(Exception):
    """Base of every flag error."""


class DefinitionError(FlagError):
    """A flag definition is not valid flagd; the message names the flag and the field."""


class BundleRefused(FlagError):
    """A signed bundle did not verify (tampered, unknown key, expired, malformed); keep the last good."""
