using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Tasks.Diagnostics;

/// <summary>
/// The stable codes of the MSBuild layer (QTK2001-QTK2999, see docs/errors.md): problems in project items before a
/// machine spec exists, and problems preparing a machine during the build. Spec problems found against the emulator keep
/// their QTK1xxx codes (<see cref="MachineSpecErrorCodes"/>). A published code keeps its meaning; retired codes are not reused.
/// </summary>
public static class TaskErrorCodes
{
    public const string MalformedMemorySize = "QTK2001";
    public const string MalformedNumber = "QTK2002";
    public const string MalformedBoolean = "QTK2003";
    public const string UnknownAccelerator = "QTK2004";
    public const string MalformedKeyValueList = "QTK2005";
    public const string MalformedHostForward = "QTK2006";
    public const string MissingMetadata = "QTK2007";
    public const string DuplicateMachineName = "QTK2008";
    public const string UndeclaredMachine = "QTK2009";
    public const string UnknownMetadata = "QTK2010";
    public const string QemuBinaryUnusable = "QTK2011";
    public const string PrepareNeedsReadyPattern = "QTK2012";
    public const string NotReadyInTime = "QTK2013";
    public const string PrepareFailed = "QTK2014";
    public const string PrepareCancelled = "QTK2015";
    public const string UnsupportedMSBuild = "QTK2016";
    public const string UnknownHost = "QTK2017";
    public const string ArchitectureNotInImage = "QTK2018";

    /// <summary>Every code of the MSBuild layer, with its title as in docs/errors.md.</summary>
    public static IReadOnlyList<MachineSpecErrorCode> All { get; } =
    [
        new(MalformedMemorySize, "Malformed memory size", MachineSpecSeverity.Error),
        new(MalformedNumber, "Malformed number", MachineSpecSeverity.Error),
        new(MalformedBoolean, "Malformed boolean", MachineSpecSeverity.Error),
        new(UnknownAccelerator, "Unknown accelerator", MachineSpecSeverity.Error),
        new(MalformedKeyValueList, "Malformed key=value list", MachineSpecSeverity.Error),
        new(MalformedHostForward, "Malformed host forward", MachineSpecSeverity.Error),
        new(MissingMetadata, "Missing required metadata", MachineSpecSeverity.Error),
        new(DuplicateMachineName, "Duplicate machine name", MachineSpecSeverity.Error),
        new(UndeclaredMachine, "Item references an undeclared machine", MachineSpecSeverity.Error),
        new(UnknownMetadata, "Unknown metadata", MachineSpecSeverity.Warning),
        new(QemuBinaryUnusable, "QEMU binary unusable", MachineSpecSeverity.Error),
        new(PrepareNeedsReadyPattern, "Prepare needs a ready pattern", MachineSpecSeverity.Error),
        new(NotReadyInTime, "Machine not ready in time", MachineSpecSeverity.Error),
        new(PrepareFailed, "Machine could not be prepared", MachineSpecSeverity.Error),
        new(PrepareCancelled, "Prepare cancelled", MachineSpecSeverity.Error),
        new(UnsupportedMSBuild, "MSBuild on .NET Framework is not supported", MachineSpecSeverity.Warning),
        new(UnknownHost, "Unknown host", MachineSpecSeverity.Error),
        new(ArchitectureNotInImage, "Architecture the container image does not emulate", MachineSpecSeverity.Error),
    ];

    public static MachineSpecErrorCode Find(string code) =>
        All.FirstOrDefault(c => c.Code == code) ?? throw new ArgumentException($"unknown MSBuild error code '{code}'", nameof(code));
}
