"""Payment-provider connectors: bank evidence asked for online, as plain records.

Why a package of its own: statements (appliance.statements) are files a vendor brings; a
provider is a live HTTPS API the node asks while Pix orders wait. Both are adapters that turn
I/O into the plain records the pure matchers take (appliance.domain.provider_match here).
A connector implements `Provider` (base.py); the first is BCB's API Pix (apipix.py).
"""
