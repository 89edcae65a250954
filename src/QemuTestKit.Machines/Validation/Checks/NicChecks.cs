using System.Globalization;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Validation.Checks;

/// <summary>Host port forwards: valid ports, and no host port claimed twice (the second would fail to bind); port 0 is any free port.</summary>
internal static class NicChecks
{
    public static void Check(ValidationRun run)
    {
        var claimed = new Dictionary<(string Protocol, int Port), string>();
        for (var n = 0; n < run.Spec.Nics.Count; n++)
        {
            var forwards = run.Spec.Nics[n].HostForwards ?? [];
            for (var f = 0; f < forwards.Count; f++)
            {
                var field = string.Create(CultureInfo.InvariantCulture, $"Nics[{n}].HostForwards[{f}]");
                if (!IsValid(forwards[f]))
                {
                    run.Errors.Add(MachineSpecErrorCodes.InvalidHostForward, field, forwards[f].ToString(),
                        "is not a valid forward: the protocol must be tcp or udp, the host port 0 (any free port) to 65535 and the guest port 1 to 65535",
                        "tcp|udp, host port 0-65535, guest port 1-65535");
                }
                else if (forwards[f].HostPort != 0 && !claimed.TryAdd((forwards[f].Protocol, forwards[f].HostPort), field))
                {
                    run.Errors.Add(MachineSpecErrorCodes.DuplicateHostPort, field, forwards[f].ToString(),
                        $"forwards a host port that {claimed[(forwards[f].Protocol, forwards[f].HostPort)]} already forwards", "each host port once");
                }
            }
        }
    }

    private static bool IsValid(HostForward forward) =>
        forward.Protocol is "tcp" or "udp" && forward.HostPort is >= 0 and <= 65535 && forward.GuestPort is >= 1 and <= 65535;
}
