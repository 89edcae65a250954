using System.Globalization;

namespace QemuTestKit.Containers;

/// <summary>
/// The argument arrays of this library put QMP and the serial ports on Unix sockets in the run directory, with the host
/// listening for the consoles. In a container QEMU must be the server instead, on TCP ports the container publishes:
/// this swaps exactly those arguments (recognised by their socket paths in <see cref="QemuPorts.RunDirectory"/>) and
/// leaves every other argument as built.
/// </summary>
internal static class TcpEndpoints
{
    public static IReadOnlyList<string> Rewrite(IReadOnlyList<string> arguments, int serialPorts)
    {
        var run = QemuPorts.RunDirectory;
        var result = new List<string>(arguments.Count);
        for (var i = 0; i < arguments.Count; i++)
        {
            var argument = arguments[i];
            result.Add(argument);
            if (i + 1 >= arguments.Count)
            {
                continue;
            }

            var value = arguments[i + 1];
            if (argument == "-qmp" && value.StartsWith($"unix:{run}/qmp.sock,", StringComparison.Ordinal))
            {
                result.Add(string.Create(CultureInfo.InvariantCulture, $"tcp:0.0.0.0:{QemuPorts.Qmp},server=on,wait=off"));
                i++;
            }
            else if (argument == "-chardev" && SerialIndex(value, run) is { } index && index < serialPorts)
            {
                result.Add(string.Create(CultureInfo.InvariantCulture,
                    $"socket,id=serial{index},host=0.0.0.0,port={QemuPorts.FirstSerial + index},server=on,wait=off"));
                i++;
            }
        }

        return result;
    }

    private static int? SerialIndex(string value, string run)
    {
        // socket,id=serialN,path=<run>/serialN.sock,server=off
        const string prefix = "socket,id=serial";
        if (!value.StartsWith(prefix, StringComparison.Ordinal) || !value.EndsWith(".sock,server=off", StringComparison.Ordinal))
        {
            return null;
        }

        var comma = value.IndexOf(',', prefix.Length);
        return comma > prefix.Length
            && int.TryParse(value.AsSpan(prefix.Length, comma - prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var index)
            && value.AsSpan(comma).StartsWith($",path={run}/serial{index}.sock", StringComparison.Ordinal)
            ? index
            : null;
    }
}
