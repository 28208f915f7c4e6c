"""Fan passes: signed CWTs (COSE_Sign1, EdDSA) in compressed CBOR and Base45, verified offline.

The format is docs/passes.md. Everything here is pure: bytes and keys in, a `Pass` or a
`PassRefused` naming the reason out. Redemptions (ledger entries) and sharing them with peer
boxes live with the node's services, not here.
"""
