using System.Globalization;

namespace QemuTestKit.Machines.Validation.Checks;

/// <summary>The files the machine boots from and runs on exist, and direct-boot options come with a kernel.</summary>
internal static class BootFileChecks
{
    public static void Check(ValidationRun run)
    {
        var spec = run.Spec;
        CheckExists(run, "Kernel", spec.Kernel, "the kernel image");
        CheckExists(run, "Initrd", spec.Initrd, "the initial RAM disk");

        // QEMU looks a bare firmware name (bios-256k.bin) up in its own data directories, which the validator cannot see.
        if (spec.Firmware is { } firmware && (Path.IsPathRooted(firmware) || firmware.Contains('/', StringComparison.Ordinal)))
        {
            CheckExists(run, "Firmware", firmware, "the firmware image");
        }

        for (var i = 0; i < spec.Disks.Count; i++)
        {
            CheckExists(run, string.Create(CultureInfo.InvariantCulture, $"Disks[{i}].Path"), spec.Disks[i].Path, "the disk image");
        }

        if (spec.Kernel is null)
        {
            NeedsKernel(run, "Initrd", spec.Initrd, "-initrd");
            NeedsKernel(run, "Append", spec.Append, "-append");
        }
    }

    private static void CheckExists(ValidationRun run, string field, string? path, string what)
    {
        if (path is not null && !run.FileExists(path))
        {
            run.Errors.Add(MachineSpecErrorCodes.FileNotFound, field, path, $"does not exist (it is {what})", "an existing file");
        }
    }

    private static void NeedsKernel(ValidationRun run, string field, string? value, string option)
    {
        if (value is not null)
        {
            run.Errors.Add(MachineSpecErrorCodes.NeedsKernel, field, value,
                $"is given without a kernel: QEMU takes {option} only for direct boot with -kernel", "set only together with Kernel");
        }
    }
}
