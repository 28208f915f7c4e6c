"""HTTP layer of the checkout node: operator JSON API, attendee pages, SSE. Thin: parse, call, render."""
