namespace QemuTestKit.Machines.Validation.Checks;

/// <summary>
/// Parts the emulator records but cannot replay (<see cref="ReplayLimits"/>). A warning, since a machine may run
/// unrecorded; tests record by default, and the runtime refuses to record such a machine with the same words.
/// </summary>
internal static class ReplayChecks
{
    public static void Check(ValidationRun run)
    {
        foreach (var limit in ReplayLimits.Of(run.Spec, run.Catalog))
        {
            run.Errors.Add(MachineSpecErrorCodes.DoesNotReplay, limit.Field, limit.Device, limit.Problem(run.Errors.Emulator), "a machine and devices this QEMU replays");
        }
    }
}
