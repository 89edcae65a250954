using System.Globalization;

namespace QemuTestKit.Machines.Runtime;

/// <summary>A host port forward as QEMU bound it: the port on 127.0.0.1 and the guest port it leads to.</summary>
public sealed record ForwardedPort(string Protocol, int HostPort, int GuestPort);

/// <summary>
/// Reads the forwards QEMU bound from HMP <c>info usernet</c> (QMP has no twin): a forward declared with host port 0
/// gets a free port from the kernel when QEMU starts, and this is where it shows.
/// </summary>
internal static class ForwardedPorts
{
    /// <summary>Lines such as <c>  TCP[HOST_FORWARD]   9       127.0.0.1 44423       10.0.2.15    22     0     0</c>.</summary>
    public static IReadOnlyList<ForwardedPort> Parse(string infoUsernet)
    {
        var ports = new List<ForwardedPort>();
        foreach (var line in infoUsernet.Split('\n'))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 6 || !fields[0].EndsWith("[HOST_FORWARD]", StringComparison.Ordinal))
            {
                continue;
            }

            var protocol = fields[0][..fields[0].IndexOf('[', StringComparison.Ordinal)].ToLowerInvariant();
            if (int.TryParse(fields[3], NumberStyles.None, CultureInfo.InvariantCulture, out var host)
                && int.TryParse(fields[5], NumberStyles.None, CultureInfo.InvariantCulture, out var guest))
            {
                ports.Add(new ForwardedPort(protocol, host, guest));
            }
        }

        return ports;
    }
}
