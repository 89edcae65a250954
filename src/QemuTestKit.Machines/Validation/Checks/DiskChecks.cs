using System.Globalization;

namespace QemuTestKit.Machines.Validation.Checks;

/// <summary>Disk image formats the runtime can put a throw-away overlay on.</summary>
internal static class DiskChecks
{
    // The runtime writes to a qcow2 overlay whose backing file must be one of these.
    private static readonly string[] Formats = ["qcow2", "raw"];

    public static void Check(ValidationRun run)
    {
        for (var i = 0; i < run.Spec.Disks.Count; i++)
        {
            if (run.Spec.Disks[i].Format is { } format && !Formats.Contains(format, StringComparer.Ordinal))
            {
                run.Errors.Add(MachineSpecErrorCodes.UnsupportedDiskFormat, string.Create(CultureInfo.InvariantCulture, $"Disks[{i}].Format"), format,
                    "is not a supported disk format (use qcow2 or raw, or leave it out to detect it)", "qcow2, raw",
                    NearMiss.Suggest(format, Formats));
            }
        }
    }
}
