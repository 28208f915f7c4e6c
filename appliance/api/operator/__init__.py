"""The operator plane: the JSON API served over TLS (and the on-box socket), token or pin; never a page."""
