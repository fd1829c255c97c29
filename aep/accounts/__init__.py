"""Accounts (DESIGN 12): personal API tokens, members and their roles, invitations. Writes are in
`tokens` and `members` (services), reads in `selectors`; `api`, `views` and `urls` are the thin HTTP
layers over them."""
