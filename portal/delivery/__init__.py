"""How events leave Nuage: signed webhooks (webhooks.py) and e-mail (mail.py)."""
