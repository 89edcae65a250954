using System.Globalization;

namespace QemuTestKit.Containers;

/// <summary>
/// The argument arrays of this library put QMP on a Unix socket and the serial ports on pipe pairs (or, in older
/// bundles, Unix sockets the host listens on) in the run directory. In a container QEMU must be the server instead, on TCP ports the container publishes:
/// this swaps exactly those arguments (recognised by their socket paths in <see cref="QemuPorts.RunDirectory"/>) and
/// leaves every other argument as built. QEMU waits for each serial port's connection (<c>wait=on</c>) before it
/// creates the machine, so no console output is lost and nothing needs <c>-S</c>: a QEMU 7.2 replay from a checkpoint
/// that stands paused before <c>cont</c> can stall for good (docs/cli.md, "Paused replays from a checkpoint").
/// </summary>
internal static class TcpEndpoints
{
    /// <summary>
    /// QMP as a TCP server in the container. <c>nodelay=on</c> here and on the serial ports: with Nagle's algorithm
    /// QEMU holds back small writes (a console's echo, a QMP answer) until the previous ones are acknowledged, and a
    /// recorded run, whose input waits for each echo, took 7.4x as long as an unrecorded one (1.27x with it, the bench
    /// qemu-versions).
    /// </summary>
    public static readonly string Qmp = string.Create(CultureInfo.InvariantCulture, $"tcp:0.0.0.0:{QemuPorts.Qmp},server=on,wait=off,nodelay=on");

    /// <summary>
    /// The container's TCP send buffers (<c>net.ipv4.tcp_wmem</c>: min, default, max), 4 MiB from the start instead of
    /// the kernel's 16 KiB. Why: the UART writes one byte per call, each its own segment with <c>nodelay=on</c>, and
    /// about 16 unacknowledged ones fill 16 KiB. QEMU's write then fails with EAGAIN and the UART retries it from the
    /// main loop, at a moment a replay cannot reproduce, so the recording diverges ("Missing character write event in
    /// the replay log"). A recorded <c>seq 1 4000</c> in the 7.2 image failed to replay in 5 of 8 runs with the
    /// default and in none of 5 with this; the host's own runs write to a regular file (SerialPipe) and never fail.
    /// QEMU has no option for its sockets' buffers, and this sysctl is per network namespace, so it is set on the
    /// container (remote engines included).
    /// </summary>
    public static readonly KeyValuePair<string, string> SendBuffers = new("net.ipv4.tcp_wmem", "4096 4194304 4194304");

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
                result.Add(Qmp);
                i++;
            }
            else if (argument == "-chardev" && SerialIndex(value, run) is { } index && index < serialPorts)
            {
                result.Add(string.Create(CultureInfo.InvariantCulture,
                    $"socket,id=serial{index},host=0.0.0.0,port={QemuPorts.FirstSerial + index},server=on,wait=on,nodelay=on"));
                i++;
            }
        }

        return result;
    }

    private static int? SerialIndex(string value, string run)
    {
        // pipe,id=serialN,path=<run>/serialN (how local runs and bundles have them)
        const string pipe = "pipe,id=serial";
        if (value.StartsWith(pipe, StringComparison.Ordinal))
        {
            var end = value.IndexOf(',', pipe.Length);
            return end > pipe.Length
                && int.TryParse(value.AsSpan(pipe.Length, end - pipe.Length), NumberStyles.None, CultureInfo.InvariantCulture, out var port)
                && value.AsSpan(end).SequenceEqual($",path={run}/serial{port}")
                ? port
                : null;
        }

        // socket,id=serialN,path=<run>/serialN.sock,server=off (older bundles)
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
