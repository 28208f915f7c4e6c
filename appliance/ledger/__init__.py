"""Receipt lines, the hash chain, signatures and the device identity."""
