"""The Textual operator console; talks to a node over HTTP only."""
