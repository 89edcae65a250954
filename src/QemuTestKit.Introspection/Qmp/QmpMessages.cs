using System.Text.Json.Nodes;

namespace QemuTestKit.Introspection.Qmp;

/// <summary>The greeting QEMU sends when a QMP connection opens.</summary>
public sealed record QmpGreeting(int Major, int Minor, int Micro, string Package, IReadOnlyList<string> Capabilities)
{
    public string Version => $"{Major}.{Minor}.{Micro}";
}

/// <summary>An asynchronous event from QEMU.</summary>
/// <param name="Sequence">Monotonic number assigned on receipt; lets a waiter ask for events after a known point.</param>
public sealed record QmpEvent(string Name, JsonObject? Data, DateTimeOffset Timestamp, long Sequence, DateTimeOffset ReceivedAt);
