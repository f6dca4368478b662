"""A stand-in for a desktop's notification daemon, run by the tests on a private session bus.

It owns org.freedesktop.Notifications on the bus that DBUS_SESSION_BUS_ADDRESS names and
speaks the freedesktop protocol (what dunst or GNOME Shell answer), writes each Notify call
as a JSON line on stdout, and clicks on request: a line `{"click": id}` on stdin emits
ActionInvoked(id, "default"), which is what a daemon sends when the user clicks the
notification's body. `python notification_server.py` prints `{"ready": true}` first.
"""

import asyncio
import itertools
import json
import sys
from typing import Annotated

from dbus_fast import Variant
from dbus_fast.aio import MessageBus
from dbus_fast.annotations import DBusInt32, DBusSignature, DBusStr, DBusUInt32
from dbus_fast.service import ServiceInterface, method, signal

NAME = "org.freedesktop.Notifications"
PATH = "/org/freedesktop/Notifications"
StrList = Annotated[list[str], DBusSignature("as")]
Hints = Annotated[dict[str, Variant], DBusSignature("a{sv}")]
Info = Annotated[list[str], DBusSignature("ssss")]
Action = Annotated[list, DBusSignature("us")]
Closed = Annotated[list, DBusSignature("uu")]


def say(message: dict) -> None:
    print(json.dumps(message), flush=True)


class Notifications(ServiceInterface):
    def __init__(self) -> None:
        super().__init__(NAME)
        self._ids = itertools.count(1)

    @method()
    def GetCapabilities(self) -> StrList:
        return ["actions", "body"]

    @method()
    def GetServerInformation(self) -> Info:
        return ["test-notifications", "tests", "1.0", "1.2"]

    @method()
    def Notify(
        self,
        app_name: DBusStr,
        replaces_id: DBusUInt32,
        app_icon: DBusStr,
        summary: DBusStr,
        body: DBusStr,
        actions: StrList,
        hints: Hints,
        expire_timeout: DBusInt32,
    ) -> DBusUInt32:
        notification_id = next(self._ids)
        say(
            {
                "id": notification_id,
                "app_name": app_name,
                "app_icon": app_icon,
                "summary": summary,
                "body": body,
                "actions": actions,
            }
        )
        return notification_id

    @method()
    def CloseNotification(self, notification_id: DBusUInt32) -> None:
        self.NotificationClosed(notification_id, 3)

    @signal()
    def ActionInvoked(self, notification_id: int, key: str) -> Action:
        return [notification_id, key]

    @signal()
    def NotificationClosed(self, notification_id: int, reason: int) -> Closed:
        return [notification_id, reason]


async def main() -> None:
    bus = await MessageBus().connect()
    service = Notifications()
    bus.export(PATH, service)
    await bus.request_name(NAME)
    say({"ready": True})
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        request = json.loads(line)
        service.ActionInvoked(request["click"], "default")
        say({"clicked": request["click"]})
    bus.disconnect()


if __name__ == "__main__":
    asyncio.run(main())
