"""tinyodm's attribute factories: two in Motor's protocol, one in motorlike's."""

from motor.metaprogramming import AsyncRead, MotorAttributeFactory


class Blocking(MotorAttributeFactory):
    """PyMongo's own method, bound to the wrapper: it blocks, for code that
    runs on a thread of its own (mongomotor's ``OriginalDelegate``).

    PyMongo's code then reads the wrapper's private attributes; the wrapper
    forwards them to its PyMongo object (``OdmCollection.__getattr__``).
    Motor's signature: ``cls`` is the generated class.
    """

    def __init__(self, pymongo_name):
        self.pymongo_name = pymongo_name

    def create_attribute(self, cls, attr_name):
        return getattr(cls.__delegate_class__, self.pymongo_name)


class Counted(AsyncRead):
    """Motor's coroutine for the PyMongo method, counting calls in ``self.calls``.

    A Motor-style subclass of a stock factory: it asks its parent with
    Motor's two arguments.
    """

    def create_attribute(self, cls, attr_name):
        coroutine = super().create_attribute(cls, attr_name)

        def counted(self, *args, **kwargs):
            self.calls[attr_name] += 1
            return coroutine(self, *args, **kwargs)

        counted.__name__ = attr_name
        return counted


class FrameworkName(MotorAttributeFactory):
    """A property naming the framework the class was generated for.

    motorlike's signature: ``cls`` is the declaration and ``framework`` the
    framework module.
    """

    def create_attribute(self, cls, attr_name, framework):
        name = f"{framework.__name__.rsplit('.', 1)[-1]} {cls.__motor_class_name__}"
        return property(lambda self: name)
