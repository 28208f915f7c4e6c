"""The attendee plane: plain HTTP pages for phones and the customer display; never the operator's."""
