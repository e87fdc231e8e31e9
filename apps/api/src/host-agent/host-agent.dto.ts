import { Type } from 'class-transformer';
import { GATEWAY_LIMITS } from '@natplane/domain';
import { ArrayMaxSize, IsArray, IsInt, IsString, IsUUID, Max, MaxLength, Min, ValidateNested } from 'class-validator';

/**
 * Every number of a report is bounded by the column it lands in (issue 13): generations are
 * bigint columns the api reads as exact JSON integers (2^53 - 1), usage counters int columns
 * (2^31 - 1), rule numbers what a gateway's rules may be.
 */
const MAX_GENERATION = Number.MAX_SAFE_INTEGER;
const MAX_INT4 = 2 ** 31 - 1;

export class UsageEntryDto {
  /** The endpoint's id, as in the host document. */
  @IsUUID()
  endpoint!: string;

  /** -1 for the gateway's default IPs, else the rule's ruleNumber. */
  @IsInt()
  @Min(-1)
  @Max(GATEWAY_LIMITS.ruleNumber.max)
  ruleNumber!: number;

  /** Distinct NAT ports in use now (from conntrack). */
  @IsInt()
  @Min(0)
  @Max(MAX_INT4)
  portsInUse!: number;
}

/** What an agent reports every few seconds and after each apply. */
export class HostReportDto {
  /** The generation of the document the host's data plane holds now. */
  @IsInt()
  @Min(0)
  @Max(MAX_GENERATION)
  appliedGeneration!: number;

  @IsArray()
  @ArrayMaxSize(200000)
  @ValidateNested({ each: true })
  @Type(() => UsageEntryDto)
  usage!: UsageEntryDto[];

  /** Errors of the last apply; empty when it succeeded. */
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(2000, { each: true })
  errors!: string[];
}

export class HostReportAckDto {
  /** The generation the control plane wants applied (pull the document when it is newer). */
  desiredGeneration!: number;
}
