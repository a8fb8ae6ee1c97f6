"""Registry: logged models, registered versions, aliases, reviews, exports, evaluation, gate."""
