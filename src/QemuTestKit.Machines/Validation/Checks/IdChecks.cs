using System.Globalization;
using System.Text.RegularExpressions;

namespace QemuTestKit.Machines.Validation.Checks;

/// <summary>
/// Ids of disks, NICs and devices are well formed for QEMU and unique within the machine. They are checked as one
/// namespace because the command line reuses them across drives, netdevs and devices.
/// </summary>
internal static partial class IdChecks
{
    public static void Check(ValidationRun run)
    {
        var taken = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (field, id, given) in IdsOf(run))
        {
            if (given && !WellFormed().IsMatch(id))
            {
                run.Errors.Add(MachineSpecErrorCodes.InvalidId, field, id,
                    "is not a valid QEMU id: it must start with a letter and use only letters, digits, '.', '_' and '-'",
                    "[A-Za-z][A-Za-z0-9._-]*");
            }
            else if (!taken.TryAdd(id, field))
            {
                run.Errors.Add(MachineSpecErrorCodes.DuplicateId, field, id, $"is already the id of {taken[id]}",
                    "an id used once among disks, NICs and devices");
            }
        }
    }

    // Disks and NICs get disk0, net0... when no id is given, so a given id can collide with a default one.
    private static IEnumerable<(string Field, string Id, bool Given)> IdsOf(ValidationRun run)
    {
        var spec = run.Spec;
        for (var i = 0; i < spec.Disks.Count; i++)
        {
            yield return (Field("Disks", i, "Id"), spec.Disks[i].Id ?? Field("disk", i), spec.Disks[i].Id is not null);
        }

        for (var i = 0; i < spec.Nics.Count; i++)
        {
            yield return (Field("Nics", i, "Id"), spec.Nics[i].Id ?? Field("net", i), spec.Nics[i].Id is not null);
        }

        for (var i = 0; i < spec.Devices.Count; i++)
        {
            if (spec.Devices[i].Id is { } id)
            {
                yield return (Field("Devices", i, "Id"), id, true);
            }
        }

        foreach (var use in run.DeviceUses.Where(u => u.Role == DeviceRole.ExtraArgument))
        {
            if (use.Properties.TryGetValue("id", out var id))
            {
                yield return (use.PropertyField("id"), id, true);
            }
        }
    }

    private static string Field(string list, int index, string member) =>
        string.Create(CultureInfo.InvariantCulture, $"{list}[{index}].{member}");

    private static string Field(string prefix, int index) => string.Create(CultureInfo.InvariantCulture, $"{prefix}{index}");

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9._-]*$")]
    private static partial Regex WellFormed();
}
