using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Machines.Tests.Support;

internal static class ReplayLimitWarnings
{
    /// <summary>
    /// The problems without QTK1028: every riscv machine on QEMU before 10.2 carries it (RiscvTimers), and tests about
    /// another problem look past it. <c>ArchitectureTests</c> proves it is there.
    /// </summary>
    public static IReadOnlyList<MachineSpecError> WithoutReplayLimits(this IReadOnlyList<MachineSpecError> errors) =>
        errors.Where(e => e.Code != MachineSpecErrorCodes.DoesNotReplay).ToList();
}
