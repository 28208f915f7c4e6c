"""Receipt lines, the hash chain, signatures, the device identity, and the sync wire types."""
