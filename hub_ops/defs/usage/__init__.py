"""The usage domain: who uses each hub (daily activity) and how big their homes are."""
