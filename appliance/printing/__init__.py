"""Paper receipts on ESC/POS thermal printers: the text, the bytes, the queue, the test page."""
