//! SVG charts drawn on the server and hydrated (filled in by the chart work).
