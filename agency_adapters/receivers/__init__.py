"""Reference receivers of Pantau's pushed feeds, for agencies to run or copy.

``police`` serves AlertReceiverService over mutual TLS; ``webhook`` takes
Standard Webhooks POSTs over HTTPS. Both verify every entry (``verify``) and
keep what they accept durably (``store``). They import only the generated
``pantau.v1`` messages, cryptography, joserfc and the standard library:
``python -m agency_adapters.receivers --help``.
"""
