"""tinyodm's models: plain objects saved as documents."""


class Model:
    """A document; subclasses name their collection in ``collection_name``."""

    collection_name = "models"

    def __init__(self, **fields):
        self.__dict__.update(fields)

    @classmethod
    def from_document(cls, document):
        return cls(**document)

    def to_document(self):
        return dict(vars(self))

    def __eq__(self, other):
        return type(other) is type(self) and vars(other) == vars(self)

    def __repr__(self):
        return f"{type(self).__name__}({vars(self)!r})"
