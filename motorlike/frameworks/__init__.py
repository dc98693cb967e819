"""Event-loop frameworks motorlike can generate classes for.

A framework is a module with the same small set of names: ``NAME``,
``GENERATED_MODULE``, ``CLASS_PREFIX``, ``get_event_loop``,
``check_event_loop``, ``to_asyncio_loop``, ``submit``, ``get_future``,
``run_on_executor``, ``call_soon``, ``is_future``, ``platform_info``. Both shipped frameworks run on an asyncio loop underneath
(Tornado 6's IOLoop wraps one), so the thread bridge and futures are shared;
a framework only says how to find and validate its loop object.
"""
