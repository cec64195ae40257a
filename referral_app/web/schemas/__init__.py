"""The JSON API's request and response models, each shape declared once: the views validate
with them (`base.parse_body`, `base.check_query`) and the OpenAPI document is made from them."""
