using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Validation.Checks;

/// <summary>Whether the asked-for accelerator exists in the binary, runs on this host, and fits recording.</summary>
internal static class AcceleratorChecks
{
    public static void Check(ValidationRun run)
    {
        if (run.Spec.Accelerator != Accelerator.Kvm)
        {
            return;
        }

        if (!run.Catalog.Accelerators.Contains("kvm", StringComparer.Ordinal))
        {
            run.Errors.Add(MachineSpecErrorCodes.AcceleratorNotCompiledIn, "Accelerator", "kvm",
                $"is not compiled into {run.Errors.Emulator} (it has: {string.Join(", ", run.Catalog.Accelerators)})", "tcg");
        }
        else if (run.Context.KvmUsable == false)
        {
            run.Errors.Add(MachineSpecErrorCodes.KvmNotUsable, "Accelerator", "kvm",
                "cannot run a guest on this host (a KVM guest was tried and did not run); use tcg", "tcg");
        }

        // QEMU's record/replay is built on TCG's instruction counting; KVM runs guest code it cannot count.
        if (run.Context.Recording)
        {
            run.Errors.Add(MachineSpecErrorCodes.RecordingNeedsTcg, "Accelerator", "kvm",
                "cannot be used for a recorded machine: record/replay works with tcg only", "tcg");
        }
    }
}
