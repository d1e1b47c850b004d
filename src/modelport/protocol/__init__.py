"""Sans-IO codecs: bytes and headers in, request objects out, and back. No transports here."""
