"""Reference receivers of Pantau's pushed feeds, for agencies to run or copy.

``police`` serves AlertReceiverService over mutual TLS; ``webhook`` takes
Standard Webhooks POSTs over HTTPS; ``cap_import`` checks a CAP directory.
The first two verify every entry (``verify``) and keep what they accept
durably (``store``), importing only the generated ``pantau.v1`` messages,
cryptography, joserfc and the standard library:
``python -m agency_adapters.receivers --help``.
"""
